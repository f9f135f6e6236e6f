"""Finding and running KenLM's command-line trainers (`lmplz`, `build_binary`).

The `kenlm` Python package only scores; training needs the two C++ programs that
`scripts/build_kenlm.sh` builds from KenLM's source into `$KENLM_BIN` (default `~/.local/bin`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BUILD_HINT = "build it with `bash scripts/build_kenlm.sh` (installs lmplz and build_binary into $KENLM_BIN)"


def find_kenlm_tool(name: str) -> Path | None:
    """`lmplz` or `build_binary` from `$KENLM_BIN`, `~/.local/bin` or `PATH`; None when absent."""
    for folder in (os.environ.get("KENLM_BIN"), Path.home() / ".local" / "bin"):
        if folder and (candidate := Path(folder, name)).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def require_kenlm_tool(name: str) -> Path:
    tool = find_kenlm_tool(name)
    if tool is None:
        raise FileNotFoundError(f"KenLM's `{name}` was not found in $KENLM_BIN, ~/.local/bin or PATH: {BUILD_HINT}")
    return tool


def train_arpa(sentences: list[str], arpa_file: str | Path, order: int, memory: str = "20%") -> None:
    """Train a modified Kneser-Ney `order`-gram model on sentences of space-separated tokens.

    `--discount_fallback` lets lmplz finish on small corpora whose count-of-counts cannot estimate
    every discount (it then uses fixed discounts); `memory` caps lmplz's sort buffers (`-S`).
    """
    lmplz = require_kenlm_tool("lmplz")
    corpus = ("\n".join(sentences) + "\n").encode("utf-8")
    with tempfile.TemporaryDirectory() as scratch, open(arpa_file, "wb") as target:
        command = [str(lmplz), "-o", str(order), "-S", memory, "-T", scratch, "--discount_fallback"]
        done = subprocess.run(command, input=corpus, stdout=target, stderr=subprocess.PIPE)
    if done.returncode != 0:
        Path(arpa_file).unlink(missing_ok=True)
        raise RuntimeError(f"lmplz failed for {arpa_file}:\n{done.stderr.decode(errors='replace')[-2000:]}")


def build_binary(arpa_file: str | Path, binary_file: str | Path) -> None:
    """Convert an ARPA model into KenLM's binary format (smaller, loads by mmap)."""
    tool = require_kenlm_tool("build_binary")
    done = subprocess.run([str(tool), str(arpa_file), str(binary_file)], capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"build_binary failed on {arpa_file}:\n{done.stderr.decode(errors='replace')[-2000:]}")
