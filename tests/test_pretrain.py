import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from pretrain_setup import DOMAINS, ROOT, recipe_args, run_recipe, write_corpus, write_model
from transformers import AutoModelForCausalLM

from xuanyuan.data.corpus import load_corpus
from xuanyuan.data.packing import PackedCollator, pack_corpus
from xuanyuan.data.records import RecordError
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.group_losses import GroupLossTracker
from xuanyuan.training.pretrain import LOSS_WINDOWS, domain_sums, token_losses


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain")
    return write_model(folder / "model"), write_corpus(folder / "corpus.jsonl"), folder


def test_bad_records_name_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = {"text": "营业收入", "domain": "news"}
    cases = [
        ({"domain": "news"}, "text", "missing"),
        ({"text": 42, "domain": "news"}, "text", "non-empty string"),
        ({"text": "营业收入", "domain": "sports"}, "domain", "unknown domain 'sports'"),
    ]
    for record, field, problem in cases:
        path.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
        with pytest.raises(RecordError, match=problem) as error:
            load_corpus([path], domains=["news", "web"])
        assert (error.value.path, error.value.line, error.value.field) == (str(path), 2, field)

    path.write_text("\n".join(json.dumps(r) for r in [good] + [c[0] for c in cases] + [good]) + "\n{oops\n")
    corpus = load_corpus([path], domains=["news"], on_bad_record="skip", rejected_path=tmp_path / "rejected.jsonl")
    assert corpus.texts == ["营业收入", "营业收入"] and corpus.num_rejected == 4
    rejected = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [(r["path"], r["line"], r["field"]) for r in rejected] == [
        (str(path), 2, "text"),
        (str(path), 3, "text"),
        (str(path), 4, "domain"),
        (str(path), 6, None),
    ]
    assert [r["record"] for r in rejected] == [c[0] for c in cases] + [None]


def test_per_domain_loss_matches_row_by_row_reference(setup):
    model_dir, corpus_path, _ = setup
    tokenizer = load_tokenizer(model_dir)
    corpus = load_corpus([corpus_path])
    dataset, _ = pack_corpus(tokenizer, corpus.texts, corpus.domains, [64, 128], min_utilization=0)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    rows = [dataset[i] for i in range(len(dataset)) if len(dataset[i]["input_ids"]) == 128][:4]
    assert any(r["num_real_tokens"] < 128 for r in rows)  # padded rows, with no attention mask
    batch = PackedCollator()(rows)
    tracker = GroupLossTracker(dataset.domain_names, LOSS_WINDOWS, rows=4)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"]).logits
        losses = token_losses(logits, batch["labels"], chunk_tokens=100)  # chunks that cut rows
        sums = domain_sums(
            losses, batch["labels"], batch["domain_ids"], batch["num_real_tokens"], len(dataset.domain_names)
        )
        tracker.add(sums, LOSS_WINDOWS)
        expected = {}  # (summed loss, tokens) per domain, one unpadded row at a time, through the model's own loss
        for row in rows:
            n = row["num_real_tokens"]
            ids = torch.as_tensor(row["input_ids"][:n])[None]
            loss = model(input_ids=ids, labels=ids).loss.item()
            name = dataset.domain_names[row["domain"]]
            total, count = expected.get(name, (0.0, 0))
            expected[name] = (total + loss * (n - 1), count + n - 1)
        # the whole batch's loss is transformers' own causal-LM loss
        batch_loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
    means = tracker.mean_losses(tracker.sums["log"])
    assert means == pytest.approx({d: total / count for d, (total, count) in expected.items()}, rel=1e-4)
    assert losses.sum() / (batch["labels"][:, 1:] != -100).sum() == pytest.approx(batch_loss.item(), rel=1e-5)
    assert int(tracker.sums["total"][2].sum()) == sum(r["num_real_tokens"] for r in rows)
    # and the reference is not trivially the batch mean
    assert any(abs(v - batch_loss.item()) > 1e-3 for v in means.values()) or len(means) == 1


def test_short_run_loss_falls_and_logs_every_domain(setup):
    model_dir, corpus_path, folder = setup
    out = folder / "short"
    metrics = run_recipe(recipe_args(model_dir, corpus_path, out, "--max_steps", "40", "--mixture_interval", "10"))
    logs = [
        h for h in json.loads((out / "checkpoint-40/trainer_state.json").read_text())["log_history"] if "loss" in h
    ]
    first, last = sum(h["loss"] for h in logs[:5]) / 5, sum(h["loss"] for h in logs[-5:]) / 5
    assert last < first - 1.0, (first, last)
    assert any(key.startswith("loss/") for key in logs[0])
    assert set(metrics["domain_losses_whole_run"]) == set(DOMAINS)
    assert metrics["token_utilization"] > 0.95 and metrics["tokens_seen"] > 0
    assert len(metrics["mixture"]["changes"]) == 1 + 4  # the configured ratios + one per controller interval
    assert metrics["mixture"]["changes"][0]["ratios"] == pytest.approx({"finance": 0.5, "news": 0.25, "web": 0.25})
    assert (out / "model.safetensors").exists() and json.loads((out / "pretrain_metrics.json").read_text())
    assert json.loads((out / "config.json").read_text())["use_cache"] is True  # generation later keeps its KV cache


KILL_AT_STEP = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from transformers import TrainerCallback
from pretrain_setup import run_recipe

class KillAt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == {step}:
            os.kill(os.getpid(), signal.SIGKILL)

run_recipe(sys.argv[1:], callbacks=[KillAt()])
"""


def test_resume_after_sigkill_continues_same_data_and_mixture(setup):
    model_dir, corpus_path, folder = setup
    extra = ["--max_steps", "14", "--save_steps", "6", "--mixture_interval", "4"]
    full = run_recipe(recipe_args(model_dir, corpus_path, folder / "full", *extra))

    killed = folder / "killed"
    script = KILL_AT_STEP.format(tests=str(ROOT / "tests"), step=10)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.run(
        [sys.executable, "-c", script, *recipe_args(model_dir, corpus_path, killed, *extra)], env=env
    )
    assert process.returncode == -signal.SIGKILL
    assert sorted(p.name for p in killed.glob("checkpoint-*")) == ["checkpoint-6"]

    resumed = run_recipe(recipe_args(model_dir, corpus_path, killed, *extra, "--resume_from_checkpoint", "true"))
    assert resumed["mixture"]["changes"][-1]["first_batch"] == full["mixture"]["changes"][-1]["first_batch"]
    for a, b in zip(resumed["mixture"]["changes"], full["mixture"]["changes"], strict=True):
        assert a["ratios"] == pytest.approx(b["ratios"], rel=1e-4) and a["step"] == b["step"]
        assert a["losses"] == pytest.approx(b["losses"], rel=1e-4)

    def step_logs(run):
        history = json.loads((folder / run / "checkpoint-14/trainer_state.json").read_text())["log_history"]
        return {h["step"]: h for h in history if "loss" in h}

    full_logs, resumed_logs = step_logs("full"), step_logs("killed")
    for step in range(7, 15):  # after the checkpoint: same batches (same domains present) and same losses
        a, b = full_logs[step], resumed_logs[step]
        assert sorted(k for k in a if k.startswith("loss/")) == sorted(k for k in b if k.startswith("loss/"))
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert resumed["tokens_seen"] == full["tokens_seen"]


def test_corpus_reads_gzip_parquet_and_globs(tmp_path):
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [{"text": "甲", "domain": "news"}, {"text": "乙", "domain": "web"}]
    with gzip.open(tmp_path / "a.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
    pq.write_table(pa.Table.from_pylist(records + [{"text": None, "domain": "web"}]), tmp_path / "b.parquet")
    corpus = load_corpus([tmp_path / "a.jsonl.gz"], domains=["news", "web"])
    assert (corpus.texts, corpus.domains) == (["甲", "乙"], ["news", "web"])
    with pytest.raises(RecordError, match=r"b\.parquet, line 3, field 'text'"):
        load_corpus([str(tmp_path / "*.*")])
    with pytest.raises(FileNotFoundError):
        load_corpus([str(tmp_path / "missing-*.jsonl")])
