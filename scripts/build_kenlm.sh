#!/usr/bin/env bash
# Build KenLM's `lmplz` (trains n-gram models) and `build_binary` (compacts them) from source and
# install them into $KENLM_BIN (default ~/.local/bin), where xuanyuan.data.processing.kenlm_tools finds
# them. No Debian package ships KenLM, so the source comes from the `kenlm` sdist on PyPI and the
# build uses cmake with Debian's boost packages. Idempotent: returns at once when both tools are there.
#
#     bash scripts/build_kenlm.sh            # also: KENLM_BIN=/opt/kenlm/bin bash scripts/build_kenlm.sh
set -euo pipefail

KENLM_VERSION=0.3.0
KENLM_BIN="${KENLM_BIN:-$HOME/.local/bin}"

if [[ -x "$KENLM_BIN/lmplz" && -x "$KENLM_BIN/build_binary" ]]; then
    echo "KenLM tools already in $KENLM_BIN"
    exit 0
fi

packages=(cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev
          libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if (( ${#missing[@]} )); then
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# `--no-binary kenlm` (not `:all:`): the sdist's build requirements may come as wheels; with `:all:`
# pip compiles CMake itself from source just to read the sdist's metadata.
python -m pip download "kenlm==$KENLM_VERSION" --no-binary kenlm --no-deps --quiet -d "$work"
tar -xzf "$work/kenlm-$KENLM_VERSION.tar.gz" -C "$work"
cmake -S "$work/kenlm-$KENLM_VERSION" -B "$work/build" -DCMAKE_BUILD_TYPE=Release > "$work/cmake.log"
cmake --build "$work/build" --target lmplz build_binary -j "$(nproc)" > "$work/build.log"
mkdir -p "$KENLM_BIN"
install -m 755 "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$KENLM_BIN/"
echo "installed lmplz and build_binary into $KENLM_BIN"
