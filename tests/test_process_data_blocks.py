"""Each pipeline block on crafted inputs with hand-written expected outputs."""

from __future__ import annotations

import gzip
import json

import pytest
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from xuanyuan.data.processing.language import detect_language
from xuanyuan.data.processing.meter import Metered
from xuanyuan.data.processing.normalize import (
    NormalizeConfig,
    TextNormalizer,
    clean_whitespace,
    compress_repeats,
    unify_alnum_width,
    unify_punctuation,
)
from xuanyuan.data.processing.reader import RecordReader
from xuanyuan.data.processing.rules import KeywordFilter, LineFilter, MinLengthFilter, RuleFilterConfig
from xuanyuan.data.processing.sampling import DomainSampler, SamplingConfig, copies_for
from xuanyuan.data.processing.stats import build_report
from xuanyuan.data.records import RecordError, resolve_sources


def docs(*texts, lang="zh", domain="news"):
    return [Document(text=t, id=f"d{i}", metadata={"lang": lang, "domain": domain}) for i, t in enumerate(texts)]


# --- normalization ---


def test_t2s_converts_finance_terms():
    normalizer = TextNormalizer(NormalizeConfig())
    text, changed = normalizer.normalize("銀行、證券與基金會的報導")
    assert text == "银行、证券与基金会的报导"
    assert changed == ["t2s"]


def test_compress_repeats():
    assert compress_repeats("太好了！！！！！") == "太好了！"
    assert compress_repeats("然后……………") == "然后……"
    assert compress_repeats("分割==========线~~~~") == "分割=线~"
    assert compress_repeats("破折号——保留，两个！！保留") == "破折号——保留，两个！！保留"
    assert compress_repeats("等等......") == "等等……"


def test_whitespace():
    text = "\u3000\u3000首行缩进  \n楼主：营收1211.8亿元。\t\t大家怎么看？\n\n\n\n2楼：good  idea \r\n"
    assert clean_whitespace(text) == "首行缩进\n楼主：营收1211.8亿元。大家怎么看？\n\n2楼：good idea"


def test_punctuation_width_by_context():
    assert (
        unify_punctuation("要点:收益率(ROE)为9.5%,时间10:30,金额1,000元.")
        == "要点：收益率（ROE）为9.5%，时间10:30，金额1,000元。"
    )
    assert unify_punctuation("Hello，world！ Price (USD).", lang="en") == "Hello, world! Price (USD)."
    assert unify_punctuation("Name (中文名; code 6)", lang="en") == "Name (中文名; code 6)"
    assert unify_alnum_width("ＲＯＥ为１２％") == "ROE为12％"


def test_normalizer_is_a_formatter_and_counts_changes():
    step = TextNormalizer(NormalizeConfig())
    out = list(step.run(iter(docs("銀行！！！！", "不变的文本。"))))
    assert [d.text for d in out] == ["银行！", "不变的文本。"]
    assert step.stats["changed_t2s"].total == 1 and step.stats["changed_repeated_symbols"].total == 1


# --- rule filters ---


def test_keyword_filter(tmp_path):
    step = KeywordFilter(["刷单", "信用卡套现"])
    out = list(step.run(iter(docs("正规刷单平台，日赚千元", "银行信用卡业务稳健", "来试试信用卡套现"))))
    assert [d.id for d in out] == ["d1"]
    assert step.stats["dropped_bad_keyword"].total == 2


def test_line_filter():
    step = LineFilter(RuleFilterConfig(min_line_chars=3))
    text = "公司公告\n首页 | 登录 | 注册\n好\n\n正文第一段。\n@#$%^&*鑫@#\ndata:image/png;base64," + "A" * 60
    out = list(step.run(iter(docs(text, "版权所有 © 2024\n上一篇  下一篇"))))
    assert [d.text for d in out] == ["公司公告\n\n正文第一段。"]
    for reason in ("boilerplate", "short_line", "symbol_noise", "encoded_blob"):
        assert step.stats[f"lines_removed_{reason}"].total >= 1
    assert step.stats["dropped_no_valid_lines"].total == 1


def test_min_length_filter():
    step = MinLengthFilter(5)
    assert [d.text for d in step.run(iter(docs("点击 查看", "一二三 四五")))] == ["一二三 四五"]


def test_language_detection():
    assert detect_language("祺晟建工是一家建筑企业 (Qisheng)") == "zh"
    assert detect_language("Fengzhan Insurance (宄版) is listed in Shanghai.") == "en"


# --- sampling ---


def test_sampling_rates_are_deterministic_and_close_to_the_rate():
    keys = [f"doc-{i}" for i in range(4000)]
    assert [copies_for(2.0, 0, k) for k in keys[:5]] == [2] * 5
    kept = sum(copies_for(0.25, 0, k) for k in keys)
    assert 850 < kept < 1150  # binomial(4000, 0.25): mean 1000, sd 27
    assert [copies_for(1.5, 3, k) for k in keys] == [copies_for(1.5, 3, k) for k in keys]


def test_domain_sampler_repeats_and_drops():
    config = SamplingConfig(domain_sampling=True, domain_rates='{"big": 0.0, "small": 3}')
    step = DomainSampler(config)
    out = list(step.run(iter(docs("大来源") + docs("小来源", domain="small") + docs("x", domain="big"))))
    assert [d.id for d in out] == ["d0", "d0", "d0#rep1", "d0#rep2"]
    with pytest.raises(ValueError, match="non-negative"):
        SamplingConfig(domain_rates={"x": -1})


# --- meter and stats arithmetic ---


class DropOdd(BaseFilter):
    name = "odd"

    def filter(self, doc):
        return int(doc.id[1:]) % 2 == 0 or (False, "odd")


class Twice(PipelineStep):
    name = "twice"

    def run(self, data, rank=0, world_size=1):
        for doc in data:
            yield doc
            yield Document(text=doc.text + "!", id=doc.id + "b")


def test_meter_counts_removed_and_added():
    meter = Metered("odd", DropOdd(exclusion_writer=None))
    out = list(meter.run(iter(docs("aa", "bbb", "c", "dddd", "ee"))))
    assert [d.id for d in out] == ["d0", "d2", "d4"]
    totals = {k: v.total for k, v in meter.stats.stats.items()}
    assert totals["docs_in"] == 5 and totals["chars_in"] == 12 and totals["docs_out"] == 3 and totals["chars_out"] == 5
    assert totals["removed_docs:filtered"] == 2 and totals["removed_chars:filtered"] == 7
    meter = Metered("twice", Twice())
    list(meter.run(iter(docs("ab", "c"))))
    totals = {k: v.total for k, v in meter.stats.stats.items()}
    assert totals["docs_out"] == 4 and totals["docs_added"] == 2 and totals["chars_added"] == 5


def test_build_report_arithmetic():
    totals = {
        "read": {
            "docs_in": 10,
            "chars_in": 1000,
            "docs_out": 9,
            "chars_out": 990,
            "removed_docs:invalid_json": 1,
            "removed_chars:invalid_json": 10,
        },
        "normalize": {"docs_in": 9, "chars_in": 990, "docs_out": 9, "chars_out": 950},
        "dedup": {
            "docs_in": 9,
            "chars_in": 950,
            "docs_out": 6,
            "chars_out": 600,
            "removed_docs:near_duplicate": 3,
            "removed_chars:near_duplicate": 350,
        },
    }
    report = build_report(totals, ["read", "normalize", "dedup"])
    assert (report["documents_in"], report["documents_out"]) == (10, 6)
    assert (report["characters_in"], report["characters_out"]) == (1000, 600)
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["normalize"]["chars_changed_in_place"] == 40
    assert stages["dedup"]["chars_changed_in_place"] == 0 and stages["dedup"]["docs_removed"] == 3
    assert report["removed_by_reason"]["read/invalid_json"] == {
        "stage": "read",
        "reason": "invalid_json",
        "docs": 1,
        "chars": 10,
    }


# --- reader error paths ---

GOOD = {"id": "a", "text": "正常文本", "domain": "news"}


def write_lines(path, lines: list[bytes]):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


@pytest.mark.parametrize(
    "line, reason, needle",
    [
        (b'{"id": "b", "text": "unterminated', "invalid_json", "invalid JSON"),
        (b'{"id": "b"}', "missing_text", "field 'text': missing"),
        (b'{"id": "b", "text": 42}', "non_string_text", "expected a string, got int"),
        ('{"id": "b", "text": "坏'.encode() + b"\xff\xfe" + b'"}', "invalid_utf8", "not valid UTF-8 (byte 0xff at"),
    ],
)
def test_reader_errors_name_file_and_line(tmp_path, line, reason, needle):
    path = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD).encode(), b"", line])
    with pytest.raises(RecordError) as error:
        list(RecordReader([path]).run())
    assert "in.jsonl, line 3" in str(error.value) and needle in str(error.value)


def test_reader_skip_counts_and_sets_aside(tmp_path):
    from xuanyuan.data.processing.writers import AsideWriter

    path = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD).encode(), b"not json", b'{"text": null}'])
    reader = RecordReader([path], on_bad_record="skip", rejects_writer=AsideWriter(str(tmp_path / "aside"), "read"))
    out = list(reader.run())
    assert [(d.id, d.metadata["lang"], d.metadata["domain"]) for d in out] == [("a", "zh", "news")]
    assert (
        reader.stats["removed_docs:invalid_json"].total == 1
        and reader.stats["removed_docs:non_string_text"].total == 1
    )
    with gzip.open(tmp_path / "aside" / "00000.jsonl.gz", "rt") as handle:
        aside = [json.loads(line) for line in handle]
    assert [(r["reason"], r["source"].rsplit(":", 1)[1]) for r in aside] == [
        ("invalid_json", "2"),
        ("non_string_text", "3"),
    ]


def test_reader_formats_and_record_sharding(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [{"id": str(i), "text": f"文档{i}", "lang": None} for i in range(5)]
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records[:3])
    pq.write_table(pa.Table.from_pylist(records[3:]), tmp_path / "b.parquet")
    paths = resolve_sources([str(tmp_path / "*.jsonl.gz"), str(tmp_path / "b.parquet")])
    shards = [[d.id for d in RecordReader(paths).run(rank=r, world_size=3)] for r in range(3)]
    assert shards == [["0", "3"], ["1", "4"], ["2"]]
    with pytest.raises(FileNotFoundError, match="matches no file"):
        resolve_sources([str(tmp_path / "missing*.jsonl")])
