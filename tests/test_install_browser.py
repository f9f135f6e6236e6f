"""scripts/install_browser.sh without installing anything: fake `dpkg-query`, `apt-get`, `sudo` and `id` on the
PATH record their calls."""

import os
import subprocess
from pathlib import Path

from test_build_kenlm import fake, fake_dpkg_query

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install_browser.sh"


def run_script(tmp_path: Path, missing: list[str], uid: int) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    fake_dpkg_query(bin_dir, missing)
    fake(bin_dir, "apt-get", "")
    fake(bin_dir, "sudo", '"$@"')
    fake(bin_dir, "id", f"echo {uid}")
    calls = tmp_path / "calls.txt"
    calls.touch()
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls)}
    result = subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60)
    return result, [line for line in calls.read_text().splitlines() if not line.startswith(("dpkg-query", "id"))]


def test_nothing_to_do_when_both_packages_are_installed(tmp_path):
    result, calls = run_script(tmp_path, missing=[], uid=1000)
    assert result.returncode == 0 and "already installed" in result.stdout
    assert calls == []


def test_installs_only_what_is_missing_through_sudo_when_not_root(tmp_path):
    result, calls = run_script(tmp_path, missing=["chromium-driver"], uid=1000)
    assert result.returncode == 0, result.stderr
    install = "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium-driver"
    assert calls == [
        "sudo apt-get update -q",
        "apt-get update -q",
        f"sudo {install}",
        "apt-get install -y -q chromium-driver",
    ]


def test_root_installs_without_sudo(tmp_path):
    result, calls = run_script(tmp_path, missing=["chromium", "chromium-driver"], uid=0)
    assert result.returncode == 0, result.stderr
    assert calls == ["apt-get update -q", "apt-get install -y -q chromium chromium-driver"]
