"""Record errors name file, line and field (bad encodings included) and cross process boundaries; missing
extras say how to install them."""

import ast
import codecs
import gzip
import importlib
import json
import pickle
from pathlib import Path

import pytest
from script_loading import load_script

from xuanyuan.data.records import (
    Record,
    RecordError,
    check_unique_id,
    is_heldout,
    is_hub_dataset,
    iter_records,
    load_records,
    load_texts,
    read_text,
    reject_row,
    require_text,
    resolve_sources,
    skips_bad_records,
    split_heldout,
    write_rejects,
)
from xuanyuan.utils.extras import MissingExtraError, require

REPO = Path(__file__).resolve().parents[1]


def test_records_and_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": ""}\n{"id": 3}\n[1, 2]\n{broken\n', encoding="utf-8")
    records = iter_records(path)
    first = next(records)
    assert (first.line, require_text(first, "text")) == (1, "ok")
    with pytest.raises(RecordError, match=r"docs\.jsonl, line 3, field 'text': expected a non-empty string"):
        require_text(next(records), "text")
    with pytest.raises(RecordError, match=r"line 4, field 'text': missing"):
        require_text(next(records), "text")
    with pytest.raises(RecordError, match=r"line 5: expected a JSON object, got list"):
        next(records)


def test_bad_lines_can_be_collected_instead_of_raised(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "a"}\n[1]\n{broken\n{"text": "b"}\n', encoding="utf-8")
    rejects = []
    assert [r.data["text"] for r in iter_records(path, rejects)] == ["a", "b"]
    assert [(r["path"], r["line"], r["problem"].split(" (")[0], r["record"]) for r in rejects] == [
        (str(path), 2, "expected a JSON object, got list", None),
        (str(path), 3, "invalid JSON", None),
    ]


def test_one_reader_takes_globs_compressed_parquet_and_urls(tmp_path):
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b'{"text": "gz"}\n'))
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(b'{"text": "zst"}\n'))
    pq.write_table(pa.Table.from_pylist([{"text": "pq1"}, {"text": "pq2"}]), tmp_path / "c.parquet")
    with fsspec.open("memory://remote/d.jsonl", "w") as handle:
        handle.write('{"text": "url"}\n')
    sources = resolve_sources([str(tmp_path / "*.jsonl.*"), str(tmp_path / "c.parquet"), "memory://remote/d.jsonl"])
    assert [Path(s).name for s in sources] == ["a.jsonl.zst", "b.jsonl.gz", "c.parquet", "d.jsonl"]  # glob sorted
    texts = [(r.line, r.data["text"]) for source in sources for r in iter_records(source)]
    assert texts == [(1, "zst"), (1, "gz"), (1, "pq1"), (2, "pq2"), (1, "url")]
    # Anything that is no file, glob or URL is a Hub dataset id; files that are not there say so.
    assert is_hub_dataset("someone/finance-sft:train") and is_hub_dataset("someone/ds:config:test")
    assert not is_hub_dataset(str(tmp_path / "missing.jsonl")) and not is_hub_dataset("s3://bucket/x")
    with pytest.raises(FileNotFoundError, match="missing.jsonl: no such file"):
        resolve_sources(str(tmp_path / "missing.jsonl"))
    with pytest.raises(FileNotFoundError, match="the pattern matches no file"):
        resolve_sources(str(tmp_path / "*.csv"))
    with pytest.raises(ValueError, match="is a folder: pass its files or a glob"):
        resolve_sources(str(tmp_path))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="notes.txt: unsupported file type"):
        resolve_sources(str(tmp_path / "notes.txt"))


def test_load_records_counts_and_sets_aside_what_it_skips(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "a"}\n{broken\n{"text": ""}\n{"text": "b"}\n', encoding="utf-8")
    parse = lambda record: require_text(record, "text")  # noqa: E731
    with pytest.raises(RecordError, match="line 2: invalid JSON"):
        load_records(path, parse)
    texts, report = load_records([path], parse, "skip", tmp_path / "rejects.jsonl")
    assert texts == ["a", "b"] and (report.kept, report.skipped) == (2, 2)
    assert report.problems == {"record": 1, "text": 1}
    aside = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [(row["line"], row["field"], row["record"]) for row in aside] == [
        (2, None, None),
        (3, "text", {"text": ""}),
    ]


def test_load_texts_reads_globs_and_compressed_files_in_order_and_names_a_bad_record(tmp_path):
    (tmp_path / "b.jsonl").write_text('{"text": "two"}\n', encoding="utf-8")
    (tmp_path / "a.jsonl").write_text('{"text": "one", "body": "x"}\n', encoding="utf-8")
    with gzip.open(tmp_path / "c.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write('{"text": "three", "body": ""}\n')
    assert load_texts([tmp_path / "*.jsonl", tmp_path / "c.jsonl.gz"]) == ["one", "two", "three"]
    with pytest.raises(RecordError, match=r"c\.jsonl\.gz, line 1, field 'body'"):
        load_texts(str(tmp_path / "[ac].jsonl*"), "body")


def test_split_heldout_partitions_by_each_items_hash_and_keeps_order():
    items = [(i, f"document {i}") for i in range(200)]
    heldout, rest = split_heldout(items, lambda item: item[1], 0.25)
    assert heldout == [item for item in items if is_heldout(item[1], 0.25)]
    assert rest == [item for item in items if not is_heldout(item[1], 0.25)]
    assert 20 < len(heldout) < 80  # about a quarter of 200


def test_missing_extra_names_the_extra(monkeypatch):
    import sys

    # A None entry in sys.modules makes any import of the name raise ImportError, imported before or not.
    monkeypatch.setitem(sys.modules, "deepspeed", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'xuanyuan-recipes\[deepspeed\]'"):
        require("deepspeed")
    assert require("json").dumps([1]) == "[1]"


# --- encodings -----------------------------------------------------------------------------------------
def test_bom_and_crlf_are_accepted(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + '{"text": "营收"}\r\n\r\n{"text": "b"}\r\n'.encode())
    assert [(r.line, r.data) for r in iter_records(path)] == [(1, {"text": "营收"}), (3, {"text": "b"})]
    text = tmp_path / "keywords.txt"
    text.write_bytes(codecs.BOM_UTF8 + "刷单\r\n# c\r\n".encode())
    assert read_text(text).splitlines() == ["刷单", "# c"]


def test_bytes_that_are_not_utf8_name_line_byte_and_offset(tmp_path):
    path = tmp_path / "data.jsonl"
    lines = [codecs.BOM_UTF8 + b'{"a": 1}\r\n', b"\n", '{"b": "中"}\n'.encode(), b'{"c": "\xb0"}\n']
    path.write_bytes(b"".join(lines))
    offset = sum(map(len, lines[:3])) + len(b'{"c": "')  # 3 + 10, 1, 13 bytes before line 4, then 7
    message = rf"data\.jsonl, line 4: not valid UTF-8 \(byte 0xb0 at offset {offset}\); convert the file to UTF-8"
    with pytest.raises(RecordError, match=message):
        list(iter_records(path))
    rejects = []
    assert [r.data for r in iter_records(path, rejects)] == [{"a": 1}, {"b": "中"}]
    assert [(r["line"], r["field"]) for r in rejects] == [(4, None)]


def test_a_binary_file_is_a_record_error_not_a_decode_error(tmp_path):
    gzipped = tmp_path / "docs.jsonl"  # gzip bytes under a .jsonl name: 0x1f 0x8b, then binary
    gzipped.write_bytes(gzip.compress(b'{"text": "a"}\n'))
    with pytest.raises(RecordError, match=r"docs\.jsonl, line 1: not valid UTF-8 \(byte 0x8b at offset 1\)"):
        list(iter_records(gzipped))
    nul = tmp_path / "nul.jsonl"
    nul.write_bytes(b'{"a": 1}\n\x00\x00\x01\n')
    with pytest.raises(RecordError, match=r"nul\.jsonl, line 2: binary data \(NUL byte at offset 9\)"):
        list(iter_records(nul))


def test_whole_text_files_name_the_line_and_take_an_encoding(tmp_path):
    path = tmp_path / "exam.csv"
    path.write_bytes("id,question\n1,中国\n".encode("gbk"))  # 中 is 0xd6 0xd0 in GBK
    with pytest.raises(RecordError, match=r"exam\.csv, line 2: not valid UTF-8 \(byte 0xd6 at offset 14\); use"):
        read_text(path, hint="use gbk")
    assert read_text(path, "gbk") == "id,question\n1,中国\n"


# --- one skip flag, unique ids, rejects files -------------------------------------------------------------
def test_on_bad_record_takes_error_or_skip_only():
    assert (skips_bad_records("error"), skips_bad_records("skip")) == (False, True)
    for value in ("raise", "Skip", "", "true"):
        with pytest.raises(ValueError, match=rf"on_bad_record must be 'error' or 'skip', got {value!r}"):
            skips_bad_records(value)


def test_a_repeated_id_names_both_places():
    seen = {}
    first, other, again = (Record("a.jsonl", line, {}) for line in (2, 3, 7))
    check_unique_id(seen, first, "p1")
    check_unique_id(seen, other, "p2")
    message = r"a\.jsonl, line 7, field 'id': duplicate id 'p1' \(also at a\.jsonl, line 2\)"
    with pytest.raises(RecordError, match=message):
        check_unique_id(seen, again, "p1")


def test_rejects_file_rows_say_where_and_what(tmp_path):
    error = RecordError("d.jsonl", 4, "text", "missing")
    write_rejects(tmp_path / "sub" / "rejects.jsonl", [reject_row(error, {"id": 1}), reject_row(error)])
    rows = [json.loads(line) for line in (tmp_path / "sub" / "rejects.jsonl").read_text().splitlines()]
    expected = {"path": "d.jsonl", "line": 4, "field": "text", "problem": "missing"}
    assert rows == [expected | {"record": {"id": 1}}, expected | {"record": None}]


# --- every custom exception crosses process boundaries -----------------------------------------------------
# Exceptions with their own __init__: constructor arguments and the attributes that must survive.
CUSTOM_INIT = {
    "RecordError": (("d.jsonl", 3, "text", "missing"), ("path", "line", "field", "problem")),
    "SheetError": (("s.csv", 3, "label", "unknown label"), ("path", "line", "field", "problem")),
}


def project_exceptions() -> list[type]:
    """Every exception class defined in the project's code (`class X(...Error|...Exception)`), imported."""
    found = []
    for path in sorted(
        p for folder in ("xuanyuan", "recipes", "eval", "quantize") for p in (REPO / folder).rglob("*.py")
    ):
        names = [
            node.name
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ClassDef)
            and any(getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception")) for b in node.bases)
        ]
        relative = path.relative_to(REPO)
        if names and relative.parts[0] == "xuanyuan":
            module = importlib.import_module(".".join(relative.with_suffix("").parts))
        elif names:
            module = load_script(str(relative))
        found += [getattr(module, name) for name in names]
    return found


EXCEPTIONS = project_exceptions()


def test_the_known_exceptions_are_found():
    assert {"RecordError", "QuantizationShapeError", "MissingExtraError"} <= {cls.__name__ for cls in EXCEPTIONS}


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__name__)
def test_exceptions_survive_pickling_with_message_and_attributes(cls):
    assert "__init__" not in vars(cls) or cls.__name__ in CUSTOM_INIT, "give its arguments in CUSTOM_INIT"
    args, attributes = CUSTOM_INIT.get(cls.__name__, (("q.proj: in_features 5 is not a multiple of 4",), ()))
    error = cls(*args)
    error.add_note("raised in a worker")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls and str(copy) == str(error) and copy.__notes__ == ["raised in a worker"]
    assert copy.args == error.args
    assert [getattr(copy, name) for name in attributes] == [getattr(error, name) for name in attributes]
