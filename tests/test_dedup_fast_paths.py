"""The fast MinHash path against datatrove's own blocks: the same shingles, signatures, signature files,
candidate-pair files and kept documents (datatrove's stock blocks are the slow reference)."""

from __future__ import annotations

import gzip
import json
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from datatrove.data import Document
from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupSignature, _mersenne_prime
from datatrove.utils.text import simplify_text

from xuanyuan.data.processing import pipeline as pipeline_module
from xuanyuan.data.processing.dedup import (
    NFD_STABLE,
    NORM_CONFIG,
    BandGroupBuckets,
    CharMinhashSignature,
    CharTokenizer,
    DedupConfig,
    shingle_string,
)
from xuanyuan.data.processing.dedup_eval import planted_corpus
from xuanyuan.data.processing.normalize import NormalizeConfig
from xuanyuan.data.processing.pipeline import DataPipeline, ProcessDataConfig
from xuanyuan.data.processing.rules import RuleFilterConfig

ODD_TEXTS = [
    "Café crème brûlée: naïve façade, 12.5% off!",  # diacritics: datatrove strips them after NFD
    "한국어 텍스트도 있습니다 그리고 중국어",  # Hangul decomposes under NFD
    "ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ　１２３ 和汉字",
    "〪声调符号〫在这里",  # U+302A/U+302B are combining marks inside the CJK punctuation block
    "短",  # fewer characters than one shingle: no signature
    "",
]


def reference_string(text: str) -> str:
    return "".join(CharTokenizer().word_tokenize(simplify_text(text, NORM_CONFIG)))


def stock_signature(config: DedupConfig, folder) -> MinhashDedupSignature:
    return MinhashDedupSignature(output_folder=folder, config=config.minhash_config(), language=CharTokenizer())


def test_nfd_stable_characters_are_left_alone_by_the_diacritics_step():
    stable = [chr(c) for c in range(sys.maxunicode + 1) if NFD_STABLE.fullmatch(chr(c))]
    assert len(stable) > 20_000
    for char in stable:
        assert unicodedata.normalize("NFD", char) == char and unicodedata.category(char) != "Mn", hex(ord(char))
        assert unicodedata.combining(char) == 0, hex(ord(char))


@pytest.mark.parametrize("text", ODD_TEXTS + [d.text for d in planted_corpus(30, seed=5)])
def test_shingles_and_signature_equal_datatrove(text, tmp_path):
    config = DedupConfig()
    fast, stock = CharMinhashSignature(str(tmp_path / "a"), config), stock_signature(config, str(tmp_path / "b"))
    assert shingle_string(text) == reference_string(text)
    fast_shingles, stock_shingles = fast.get_shingles(text), stock.get_shingles(text)
    assert fast_shingles.shape == stock_shingles.shape and np.array_equal(fast_shingles, stock_shingles)
    if fast_shingles.size:
        expected = np.concatenate([np.array(band, dtype=np.uint64) for band in stock.get_signature(stock_shingles)])
        assert np.array_equal(fast.get_signature(fast_shingles), expected)


def test_signature_reduces_values_that_land_on_the_modulus(tmp_path):
    """a·h + b ≡ 2^61 - 1 (mod 2^64) needs the rare correction step: (2^61 - 1) mod (2^61 - 1) = 0."""
    step = CharMinhashSignature(str(tmp_path), DedupConfig(), block_shingles=3)
    j = next(j for j, a in enumerate(step.parameters[0][0]) if int(a) % 2)  # a odd: invertible modulo 2^64
    a, b = int(step.parameters[0][0, j]), int(step.parameters[1][0, j])
    h = (int(_mersenne_prime) - b) * pow(a, -1, 2**64) % 2**64
    shingles = np.array([[h], [12345], [2**63 + 7], [99], [h]], dtype=np.uint64)
    signature = step.get_signature(shingles)
    assert signature[j] == 0
    stock = np.concatenate(stock_signature(DedupConfig(), str(tmp_path / "s")).get_signature(shingles))
    assert np.array_equal(signature, stock)


def write_signatures(step, texts: list[str], rank: int) -> None:
    step(iter(Document(text=t, id=str(i)) for i, t in enumerate(texts)), rank, 2)


@pytest.mark.parametrize("tasks", [2, 16])  # 2: four whole bands per task; 16: each band in two hash ranges
def test_bucket_matching_writes_datatrove_pair_files(tmp_path, tasks):
    config = DedupConfig(num_bands=8, rows_per_band=3)
    docs = [d.text for d in planted_corpus(200, seed=2)]
    for rank, part in enumerate((docs[:100], docs[100:])):
        write_signatures(CharMinhashSignature(str(tmp_path / "sig"), config), part, rank)
        write_signatures(stock_signature(config, str(tmp_path / "stock_sig")), part, rank)
    for path in sorted((tmp_path / "stock_sig").rglob("*.sig")):
        assert path.read_bytes() == (tmp_path / "sig" / path.relative_to(tmp_path / "stock_sig")).read_bytes()
    minhash = config.minhash_config()
    for rank in range(tasks):
        BandGroupBuckets(str(tmp_path / "sig"), str(tmp_path / "pairs"), minhash).run(None, rank, tasks)
    stock_tasks = max(tasks, config.num_bands)
    for rank in range(stock_tasks):
        MinhashDedupBuckets(str(tmp_path / "sig"), str(tmp_path / "stock_pairs"), config=minhash).run(
            None, rank, stock_tasks
        )
    stock_files = sorted(p.name for p in (tmp_path / "stock_pairs").glob("*.dups"))
    assert stock_files == sorted(p.name for p in (tmp_path / "pairs").glob("*.dups"))
    assert sum((tmp_path / "stock_pairs" / name).stat().st_size for name in stock_files) > 0
    for name in stock_files:
        assert (tmp_path / "pairs" / name).read_bytes() == (tmp_path / "stock_pairs" / name).read_bytes(), name


def test_bucket_task_count():
    assert DedupConfig().bucket_task_count(2) == 2
    assert DedupConfig().bucket_task_count(5) == 4
    assert DedupConfig().bucket_task_count(2000) == 32
    assert DedupConfig(bucket_tasks=64).bucket_task_count(2) == 64
    with pytest.raises(ValueError, match="must divide num_bands"):
        DedupConfig(bucket_tasks=5)


def kept_ids(out: Path) -> set[str]:
    ids = set()
    for path in (out / "data").glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            ids.update(json.loads(line)["id"] for line in handle)
    return ids


@pytest.mark.parametrize("verify", ["exact", "signature"])
def test_pipeline_output_equals_the_stock_datatrove_blocks(tmp_path, monkeypatch, verify):
    docs = planted_corpus(300, seed=3)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8"
    )

    def run(out: Path, dedup: DedupConfig) -> set[str]:
        DataPipeline(
            run=ProcessDataConfig(output_dir=str(out), input=[str(corpus)], tasks=2, workers=1),
            normalize=NormalizeConfig(normalize=False),
            rules=RuleFilterConfig(rule_filters=False),
            dedup=dedup,
        ).launch()
        return kept_ids(out)

    fast = run(tmp_path / "fast", DedupConfig(verify_pairs=verify))
    with monkeypatch.context() as patch:
        patch.setattr(pipeline_module, "signature_step", stock_signature)
        patch.setattr(
            pipeline_module, "BandGroupBuckets", lambda i, o, config: MinhashDedupBuckets(i, o, config=config)
        )
        stock = run(tmp_path / "stock", DedupConfig(verify_pairs=verify, bucket_tasks=32))
    assert 0 < len(fast) < len(docs) and fast == stock
    work = Path("work") / "minhash"
    for kind in ("signatures", "pairs"):
        stock_files, fast_files = (
            sorted(p.relative_to(tmp_path / run) for p in (tmp_path / run / work / kind).rglob("*.*"))
            for run in ("stock", "fast")
        )
        assert stock_files and stock_files == fast_files
        for path in stock_files:
            assert (tmp_path / "fast" / path).read_bytes() == (tmp_path / "stock" / path).read_bytes(), path
