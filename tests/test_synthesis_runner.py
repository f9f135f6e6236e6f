"""The resumable synthesis runner: chunks written once, drops set aside with reasons, stale resumes refused."""

import json
import pickle

import pytest

from xuanyuan.data.synthesis.runner import SynthesisResumeError, SynthesisRun, chunk_seed

ITEMS = [{"id": f"q{i}", "text": "x" * i} for i in range(7)]


def length_check(calls: list):
    def process(chunk, seed):
        calls.append((tuple(item["id"] for item in chunk), seed))
        return [item if len(item["text"]) % 3 else {**item, "dropped": f"too_short: {len(item['text'])} < 1"}
                for item in chunk]  # fmt: skip

    return process


def test_chunks_are_processed_once_and_drops_are_counted_and_written(tmp_path):
    calls = []
    run = SynthesisRun(tmp_path / "run", seed=5)
    kept = run.generate("check", ITEMS, length_check(calls), chunk_size=3)
    assert [item["id"] for item in kept] == ["q1", "q2", "q4", "q5"]  # q0, q3, q6 have a length divisible by 3
    assert calls == [(("q0", "q1", "q2"), chunk_seed(5, "check", 0)), (("q3", "q4", "q5"), chunk_seed(5, "check", 1)),
                     (("q6",), chunk_seed(5, "check", 2))]  # fmt: skip
    verdicts = [None if item["id"] != "q4" else "refers_to_text: '上文'" for item in kept]
    final = run.filter("refers_to_text", kept, verdicts)
    summary = run.finish({"out": final})
    assert [(s["step"], s["items_in"], s["items_out"], s["dropped"]) for s in summary["funnel"]] == [
        ("check", 7, 4, {"too_short": 3}),
        ("refers_to_text", 4, 3, {"refers_to_text": 1}),
    ]
    dropped = [json.loads(line) for line in (tmp_path / "run" / "dropped.jsonl").read_text().splitlines()]
    assert [(d["step"], d["item"]["id"]) for d in dropped] == [("check", "q0"), ("check", "q3"), ("check", "q6"),
                                                              ("refers_to_text", "q4")]  # fmt: skip
    assert dropped[-1]["reason"] == "refers_to_text: '上文'" and "dropped" not in dropped[0]["item"]
    funnel = (tmp_path / "run" / "funnel.md").read_text(encoding="utf-8").splitlines()
    assert funnel[2:] == ["| check | 7 | 4 | too_short 3 |", "| refers_to_text | 4 | 3 | refers_to_text 1 |"]

    again = []  # a second run over the same folder reads every chunk back
    resumed = SynthesisRun(tmp_path / "run", seed=5).generate("check", ITEMS, length_check(again), chunk_size=3)
    assert again == [] and resumed == kept


def test_a_killed_chunk_is_redone_and_nothing_is_written_twice(tmp_path):
    run = SynthesisRun(tmp_path / "run")
    run.generate("check", ITEMS, length_check([]), chunk_size=3)
    (tmp_path / "run" / "check" / "chunk-00001.jsonl").unlink()  # as if killed while making chunk 1
    calls = []
    kept = SynthesisRun(tmp_path / "run").generate("check", ITEMS, length_check(calls), chunk_size=3)
    assert [ids for ids, _ in calls] == [("q3", "q4", "q5")]
    assert [item["id"] for item in kept] == ["q1", "q2", "q4", "q5"]


def test_resuming_over_other_inputs_or_a_retrained_model_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights v1")
    SynthesisRun(tmp_path / "run", models=[str(model)]).generate("check", ITEMS, length_check([]), chunk_size=3)
    with pytest.raises(SynthesisResumeError, match="step 'check' was started from other inputs") as error:
        SynthesisRun(tmp_path / "run", models=[str(model)]).generate("check", ITEMS[:5], length_check([]), 3)
    assert pickle.loads(pickle.dumps(error.value)).args == error.value.args
    (model / "model.safetensors").write_bytes(b"weights v2, retrained")
    with pytest.raises(SynthesisResumeError, match="models"):
        SynthesisRun(tmp_path / "run", models=[str(model)]).generate("check", ITEMS, length_check([]), 3)
    calls = []
    fresh = SynthesisRun(tmp_path / "run", models=[str(model)], overwrite=True)
    assert len(fresh.generate("check", ITEMS, length_check(calls), chunk_size=3)) == 4 and len(calls) == 3
