#!/usr/bin/env bash
# Install Debian's chromium and chromedriver, the headless browser of the web chat page's tests
# (tests/test_chat_web.py), with apt-get, only when they are missing (through sudo when not root).
# Selenium drives /usr/bin/chromium through /usr/bin/chromedriver: Selenium Manager downloads nothing.
# Idempotent: returns at once when both packages are installed.
#
#     bash scripts/install_browser.sh
set -euo pipefail

packages=(chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if (( ${#missing[@]} == 0 )); then
    echo "chromium and chromium-driver already installed"
    exit 0
fi
sudo_cmd=""
[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
echo "Installing ${missing[*]} with ${sudo_cmd:+sudo }apt-get (update, then install): the headless browser" \
    "of tests/test_chat_web.py"
$sudo_cmd apt-get update -q
$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
