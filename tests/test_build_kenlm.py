"""scripts/build_kenlm.sh without building anything: fake `dpkg-query`, `apt-get`, `sudo` and `python` on the
PATH record their calls, so no test installs, downloads or compiles."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_kenlm.sh"
PACKAGES = [
    "cmake",
    "g++",
    "make",
    "libboost-program-options-dev",
    "libboost-system-dev",
    "libboost-thread-dev",
    "libboost-test-dev",
    "zlib1g-dev",
    "libbz2-dev",
    "liblzma-dev",
]


def fake(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> "$CALLS"\n{body}\n')
    path.chmod(0o755)


def fake_dpkg_query(directory: Path, missing: list[str]) -> None:
    """`dpkg-query` that reports the packages in `missing` as not installed and every other one as installed."""
    fake(
        directory,
        "dpkg-query",
        f'case " {" ".join(missing)} " in *" ${{@: -1}} "*) exit 1;; esac; printf "install ok installed"',
    )


def run_script(tmp_path: Path, missing: list[str], *args: str, **env: str) -> tuple[subprocess.CompletedProcess, list]:
    """Run the script with fakes that report `missing` as not installed; apt-get and pip fail after printing."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    fake_dpkg_query(bin_dir, missing)
    fake(bin_dir, "apt-get", 'echo "E: apt-get output"; [[ $1 == update ]] || exit 100')
    fake(bin_dir, "sudo", '"$@"')
    fake(bin_dir, "python", 'echo "ERROR: pip output, no network"; exit 3')
    calls = tmp_path / "calls.txt"
    calls.touch()
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "KENLM_BIN": str(tmp_path / "bin"),
        "KENLM_LOG": str(tmp_path / "logs" / "build.log"),
        **env,
    }
    result = subprocess.run(["bash", str(SCRIPT), *args], env=environment, capture_output=True, text=True, timeout=60)
    return result, calls.read_text().splitlines()


def test_returns_at_once_when_the_tools_are_there(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("lmplz", "build_binary"):
        (bin_dir / tool).write_text("#!/bin/sh\n")
        (bin_dir / tool).chmod(0o755)
    result, calls = run_script(tmp_path, missing=["cmake"])
    assert result.returncode == 0
    assert result.stdout == f"KenLM tools already in {bin_dir}\n"
    assert calls == []  # not even dpkg-query


def test_says_which_packages_it_installs_before_running_apt(tmp_path):
    result, calls = run_script(tmp_path, missing=["libboost-test-dev", "zlib1g-dev"])
    assert result.returncode == 100  # the fake `apt-get install` fails
    announced, _ = result.stdout.split("apt-get install 2 packages ...")
    assert f"into {tmp_path / 'bin'}" in announced
    assert "apt-get (update, then install): libboost-test-dev zlib1g-dev\n" in announced
    assert "Boost" in announced
    apt_calls = [call for call in calls if call.startswith("apt-get")]
    assert apt_calls[0] == "apt-get update -q"
    assert apt_calls[1].startswith("apt-get install") and apt_calls[1].endswith(" libboost-test-dev zlib1g-dev")
    assert len(apt_calls) == 2
    assert not any(call.startswith("python") for call in calls)  # stopped at the failed step
    log = tmp_path / "logs" / "build.log"
    assert "E: apt-get output" in log.read_text()
    assert "E: apt-get output" in result.stderr  # the log's tail
    assert f"full log: {log}" in result.stderr
    assert "E: apt-get output" not in result.stdout


@pytest.mark.parametrize("verbose", [False, True])
def test_skips_apt_when_the_packages_are_installed(tmp_path, verbose):
    result, calls = run_script(tmp_path, [], *(["-v"] if verbose else []))
    assert result.returncode == 3  # the fake pip download fails: nothing is built
    assert "apt-get skipped" in result.stdout
    assert not any(call.startswith(("apt-get", "sudo")) for call in calls)
    assert sorted(call.split()[-1] for call in calls if call.startswith("dpkg-query")) == sorted(PACKAGES)
    [pip] = [call for call in calls if call.startswith("python")]
    assert pip.startswith("python -m pip download kenlm==0.3.0 --no-binary kenlm --no-deps -d ")
    assert "download kenlm 0.3.0 (sdist) ..." in result.stdout
    assert "failed (exit 3)" in result.stderr
    # the pip output reaches the terminal only with -v; the log has it either way
    assert ("no network" in result.stdout) is verbose
    assert "no network" in (tmp_path / "logs" / "build.log").read_text()
    assert not (tmp_path / "bin").exists()


def test_rejects_unknown_arguments(tmp_path):
    result, calls = run_script(tmp_path, [], "--yes")
    assert result.returncode == 2
    assert "usage" in result.stderr
    assert calls == []
