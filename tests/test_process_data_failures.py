"""The data pipeline never hangs: an error or a dead worker in any task stops the run with its message and a
non-zero exit, leaving no process behind; an empty input is a warning and a report of 0 documents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import multiprocess
import pytest

from xuanyuan.data.processing.local_executor import LocalExecutor

REPO = Path(__file__).resolve().parents[1]
GOOD = [{"text": f"第{i}季度营业收入同比增长，银行净利润稳定，市场表现良好。", "domain": "news"} for i in range(6)]


def process_group(pgid: int) -> list[int]:
    """Pids of the live or unreaped processes in process group `pgid` (from /proc, no psutil)."""
    members = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or it ended while we looked
        if entry.name.isdigit() and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def run_process_data(tmp_path: Path, records: list[bytes]) -> tuple[int, str]:
    """recipes/process_data.py with 2 tasks on 2 workers, in its own session; (exit code, stderr). The whole
    process group must be gone when it returns."""
    data, keywords = tmp_path / "in.jsonl", tmp_path / "keywords.txt"
    data.write_bytes(b"".join(record + b"\n" for record in records))
    keywords.write_text("刷单\n", encoding="utf-8")
    command = [
        sys.executable, "recipes/process_data.py", "--config", "recipes/tiny/data.yaml", "--input", str(data),
        "--output_dir", str(tmp_path / "out"), "--keyword_file", str(keywords), "--on_bad_record", "error",
        "--safety", '{"enabled": false}', "--tasks", "2", "--workers", "2",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("process_data.py did not finish within 120 s (a hang)")
    assert process_group(process.pid) == [], "process_data.py left processes behind"
    return process.returncode, stderr


def test_a_bad_record_in_a_worker_stops_the_run_with_file_and_line(tmp_path):
    records = [json.dumps(r, ensure_ascii=False).encode() for r in GOOD]
    records.insert(3, b'{"text": "unterminated')
    code, stderr = run_process_data(tmp_path, records)
    assert code != 0
    assert f"RecordError: {tmp_path / 'in.jsonl'}, line 4: invalid JSON" in stderr


def test_an_empty_input_warns_and_reports_zero_documents(tmp_path):
    code, stderr = run_process_data(tmp_path, [])
    assert code == 0, stderr
    assert f"UserWarning: no documents in {tmp_path / 'in.jsonl'}" in stderr
    assert "Documents: 0 in → 0 out" in (tmp_path / "out" / "stats.md").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "out" / "stats.json").read_text(encoding="utf-8"))["documents_in"] == 0


# --- the executor itself, with steps that fail in ways a pool cannot report ------------------------------
class UnpicklableError(Exception):
    def __init__(self, path, line):
        super().__init__(f"{path}, line {line}: broken")


def executor(tmp_path: Path, failing_step) -> LocalExecutor:
    """Two tasks on two workers: task 1 records its pid and sleeps; task 0 waits for that, then fails."""
    pid_file = tmp_path / "sleeper.pid"

    def step(data, rank: int, world_size: int):
        if rank == 1:
            pid_file.write_text(str(os.getpid()))
            time.sleep(300)
        while not pid_file.exists():
            time.sleep(0.05)
        failing_step()
        return data

    return LocalExecutor([step], tasks=2, workers=2, logging_dir=str(tmp_path / "logs"), start_method="fork")


def sleeper_is_gone(tmp_path: Path) -> bool:
    return not Path("/proc", (tmp_path / "sleeper.pid").read_text()).exists()


def test_a_dead_worker_stops_the_others_and_is_reported(tmp_path):
    with pytest.raises(RuntimeError, match=r"worker process died \(exit code 3\)") as caught:
        executor(tmp_path, lambda: os._exit(3)).run()
    assert "in task 0" in caught.value.__notes__[0]
    assert sleeper_is_gone(tmp_path) and multiprocess.active_children() == []


def test_an_exception_that_does_not_unpickle_still_reaches_the_parent(tmp_path):
    def fail():
        raise UnpicklableError("data.jsonl", 7)

    with pytest.raises(RuntimeError, match=r"UnpicklableError: data\.jsonl, line 7: broken"):
        executor(tmp_path, fail).run()
    assert sleeper_is_gone(tmp_path) and multiprocess.active_children() == []
