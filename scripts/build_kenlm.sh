#!/usr/bin/env bash
# Build KenLM's `lmplz` (trains n-gram models) and `build_binary` (compacts them) from source and
# install them into $KENLM_BIN (default ~/.local/bin), where xuanyuan.data.processing.kenlm_tools finds
# them. No Debian package ships KenLM, so the source comes from the `kenlm` sdist on PyPI and the
# build uses cmake with Debian's boost packages, installed with apt-get only when missing (it says which
# first). Idempotent: returns at once when both tools are there.
#
# The output of apt-get, pip, cmake and the compiler goes to $KENLM_LOG (default
# ~/.cache/xuanyuan/build_kenlm.log); the terminal gets one line per step with its time, and on failure
# the log's last 40 lines. `-v` (or KENLM_VERBOSE=1) streams everything.
#
#     bash scripts/build_kenlm.sh [-v]       # also: KENLM_BIN=/opt/kenlm/bin bash scripts/build_kenlm.sh
set -euo pipefail

KENLM_VERSION=0.3.0
KENLM_BIN="${KENLM_BIN:-$HOME/.local/bin}"
KENLM_LOG="${KENLM_LOG:-$HOME/.cache/xuanyuan/build_kenlm.log}"
verbose="${KENLM_VERBOSE:-0}"
case "${1:-}" in
    -v | --verbose) verbose=1 ;;
    "") ;;
    *) echo "usage: bash scripts/build_kenlm.sh [-v]" >&2; exit 2 ;;
esac

if [[ -x "$KENLM_BIN/lmplz" && -x "$KENLM_BIN/build_binary" ]]; then
    echo "KenLM tools already in $KENLM_BIN"
    exit 0
fi

# cmake, g++ and make compile KenLM; its CMakeLists requires Boost's program_options, system, thread and
# unit_test_framework libraries, and lmplz reads gzip/bzip2/xz-compressed text with zlib, libbz2, liblzma.
packages=(cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev
          libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
sudo_cmd=""
[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"

echo "Building KenLM $KENLM_VERSION's lmplz and build_binary from source into $KENLM_BIN (log: $KENLM_LOG)"
if (( ${#missing[@]} )); then
    echo "Installing Debian packages with ${sudo_cmd:+sudo }apt-get (update, then install): ${missing[*]}"
    echo "  (cmake/g++/make compile KenLM; its cmake requires Boost program_options, system, thread and"
    echo "  unit_test_framework; zlib/libbz2/liblzma let lmplz read compressed text)"
else
    echo "Build packages already installed (${packages[*]}): apt-get skipped"
fi

mkdir -p "$(dirname "$KENLM_LOG")"
: > "$KENLM_LOG"
started=$SECONDS

# step DESCRIPTION COMMAND...: run COMMAND with its output in the log (and on the terminal with -v), timed;
# on failure show the log's tail and stop.
step() {
    local description=$1 step_started=$SECONDS status=0
    shift
    printf '%s ... ' "$description"
    if [[ $verbose == 1 ]]; then
        echo
        "$@" 2>&1 | tee -a "$KENLM_LOG" || status=$?
        printf '%s: ' "$description"
    else
        "$@" >> "$KENLM_LOG" 2>&1 || status=$?
    fi
    if (( status )); then
        echo "failed (exit $status) after $((SECONDS - step_started)) s; last 40 lines of $KENLM_LOG:" >&2
        tail -n 40 "$KENLM_LOG" >&2
        echo "KenLM build failed at: $description (full log: $KENLM_LOG)" >&2
        exit "$status"
    fi
    echo "$((SECONDS - step_started)) s"
}

install_packages() {
    $sudo_cmd apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
}

configure() {
    tar -xzf "$work/kenlm-$KENLM_VERSION.tar.gz" -C "$work" &&
        cmake -S "$work/kenlm-$KENLM_VERSION" -B "$work/build" -DCMAKE_BUILD_TYPE=Release
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if (( ${#missing[@]} )); then
    step "apt-get install ${#missing[@]} packages" install_packages
fi
# `--no-binary kenlm` (not `:all:`): the sdist's build requirements may come as wheels; with `:all:`
# pip compiles CMake itself from source just to read the sdist's metadata.
step "download kenlm $KENLM_VERSION (sdist)" python -m pip download "kenlm==$KENLM_VERSION" --no-binary kenlm \
    --no-deps -d "$work"
step "configure (cmake)" configure
step "compile lmplz and build_binary ($(nproc) jobs)" cmake --build "$work/build" --target lmplz build_binary \
    -j "$(nproc)"
mkdir -p "$KENLM_BIN"
install -m 755 "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$KENLM_BIN/"
echo "installed lmplz and build_binary into $KENLM_BIN in $((SECONDS - started)) s"
