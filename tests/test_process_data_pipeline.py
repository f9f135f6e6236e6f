"""The whole pipeline on a small planted corpus: dedup quality vs brute-force Jaccard, stats arithmetic,
byte-identical re-runs, resume, untouched inputs, error paths."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from xuanyuan.data.processing.dedup import DedupConfig
from xuanyuan.data.processing.dedup_eval import planted_corpus, removal_scores, true_duplicate_edges
from xuanyuan.data.processing.normalize import NormalizeConfig, TextNormalizer
from xuanyuan.data.processing.pipeline import DataPipeline, ProcessDataConfig
from xuanyuan.data.processing.rules import RuleFilterConfig
from xuanyuan.data.processing.sampling import SamplingConfig
from xuanyuan.data.records import RecordError

CRAFTED = [
    {"id": "trad", "text": "銀行與證券公司聯合發布公告，基金會將增加投資。" * 2, "domain": "news"},
    {"id": "spam", "text": "正规刷单平台，注册即送88元，日赚千元不是梦，详情加微信。", "domain": "social"},
    {"id": "short", "text": "暂无内容", "domain": "web"},
    {"id": "nav", "text": "首页 | 登录 | 注册\n版权所有 © 2024 财经资讯网", "domain": "web"},
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    docs = planted_corpus(160, seed=1)
    lines = [json.dumps({"id": d.id, "text": d.text, "domain": "web"}, ensure_ascii=False) for d in docs]
    lines += [json.dumps(r, ensure_ascii=False) for r in CRAFTED] + ['{"id": "broken", "text": ']
    (root / "raw.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "keywords.txt").write_text("# spam\n刷单\n", encoding="utf-8")
    return root, docs


def pipeline(root: Path, out: Path, **overrides) -> DataPipeline:
    run = ProcessDataConfig(
        output_dir=str(out), input=[str(root / "raw.jsonl")], tasks=2, workers=1, on_bad_record="skip"
    )
    return DataPipeline(
        run=run,
        rules=RuleFilterConfig(keyword_file=str(root / "keywords.txt")),
        sampling=SamplingConfig(domain_sampling=True, domain_rates={"social": 2.0}),
        **overrides,
    )


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    root, _ = corpus
    before = digest(root / "raw.jsonl")
    out = tmp_path_factory.mktemp("run") / "a"
    report = pipeline(root, out).launch()
    assert digest(root / "raw.jsonl") == before, "the input file was modified"
    return out, report


def read_output(out: Path) -> dict[str, dict]:
    records = {}
    for path in sorted((out / "data").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            records.update({r["id"]: r for r in map(json.loads, handle)})
    return records


def test_output_records_and_what_was_removed(first_run):
    out, report = first_run
    records = read_output(out)
    assert all(set(r) == {"text", "id", "lang", "domain"} for r in records.values())
    assert records["trad"]["text"].startswith("银行与证券公司联合发布公告，基金会将增加投资。")
    assert records["trad"]["lang"] == "zh"
    assert "spam" not in records and "short" not in records and "nav" not in records
    reasons = report["removed_by_reason"]
    assert reasons["read/invalid_json"]["docs"] == 1
    assert reasons["keyword_filter/bad_keyword"]["docs"] == 1
    assert reasons["line_filter/no_valid_lines"]["docs"] == 1
    assert reasons["min_length/too_short"]["docs"] == 1
    aside = gzip.open(next((out / "removed" / "keyword_filter").glob("*.gz")), "rt").read()
    assert json.loads(aside)["id"] == "spam" and json.loads(aside)["bad_keywords"] == ["刷单"]


def test_stats_arithmetic(first_run):
    out, report = first_run
    stages = report["stages"]
    assert [s["stage"] for s in stages] == [
        "read",
        "normalize",
        "keyword_filter",
        "line_filter",
        "min_length",
        "dedup",
        "domain_sampling",
    ]
    assert report["documents_in"] == 160 + len(CRAFTED) + 1
    for before, after in zip(stages, stages[1:], strict=False):
        assert after["docs_in"] == before["docs_out"] and after["chars_in"] == before["chars_out"]
    for s in stages:
        assert s["docs_out"] == s["docs_in"] - s["docs_removed"] + s["docs_added"]
    assert sum(s["chars_changed_in_place"] for s in stages if s["stage"] not in ("normalize", "line_filter")) == 0
    assert report["documents_out"] == len(read_output(out))
    assert report["characters_out"] == sum(len(r["text"]) for r in read_output(out).values())
    aside_counts = {}
    for path in (out / "removed").glob("*/*.jsonl.gz"):
        with gzip.open(path, "rt") as handle:
            for record in map(json.loads, handle):
                key = f"{record['stage']}/{record['reason']}"
                aside_counts[key] = aside_counts.get(key, 0) + 1
    assert aside_counts == {key: item["docs"] for key, item in report["removed_by_reason"].items()}
    assert (out / "stats.md").read_text(encoding="utf-8").count("| dedup |") == 2


def test_dedup_matches_brute_force(corpus, first_run):
    _, docs = corpus
    out, _ = first_run
    records = read_output(out)
    kept = {doc_id.split("#")[0] for doc_id in records}
    normalizer = TextNormalizer(NormalizeConfig())  # dedup sees normalized text
    edges = true_duplicate_edges({d.id: normalizer.normalize(d.text)[0] for d in docs}, DedupConfig())
    scores = removal_scores([d.id for d in docs], edges, kept)
    assert scores["should_remove"] >= 10  # the corpus does plant duplicates
    assert scores["recall"] >= 0.95 and scores["precision"] >= 0.95, scores
    variants = [d for d in docs if d.kind == "numeric_variant"]
    assert variants and all(d.id in kept and d.source in kept for d in variants)


def test_rerun_is_byte_identical_and_resume_skips_finished_tasks(corpus, first_run, tmp_path):
    root, _ = corpus
    out, _ = first_run
    second = tmp_path / "b"
    pipeline(root, second).launch()
    for sub in ("data", "removed"):
        assert tree_digests(out / sub) == tree_digests(second / sub)
    # interrupt: the second finalize task never finished
    shard = second / "data" / "00001.jsonl.gz"
    expected = digest(shard)
    shard.unlink()
    (second / "logs" / "finalize" / "completions" / "00001").unlink()
    filtered = second / "work" / "filtered" / "00000.jsonl"
    stamp = os.stat(filtered).st_mtime_ns
    pipeline(root, second).launch()
    assert digest(shard) == expected
    assert os.stat(filtered).st_mtime_ns == stamp, "a finished task was redone"


def test_changed_config_needs_overwrite(corpus, first_run):
    root, _ = corpus
    out, _ = first_run
    with pytest.raises(ValueError, match="different configuration"):
        pipeline(root, out, dedup=DedupConfig(dedup_threshold=0.8)).launch()


def test_bad_record_raises_naming_file_and_line(corpus, tmp_path):
    root, _ = corpus
    run = ProcessDataConfig(output_dir=str(tmp_path / "x"), input=[str(root / "raw.jsonl")], tasks=1, workers=1)
    strict = DataPipeline(run=run, normalize=NormalizeConfig(normalize=False), dedup=DedupConfig(dedup=False))
    with pytest.raises(RecordError, match=r"raw\.jsonl, line 165: invalid JSON"):
        strict.launch()
