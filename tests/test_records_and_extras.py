"""Record errors name file, line and field; missing extras say how to install them."""

import pytest

from xuanyuan.data.records import RecordError, iter_jsonl, require_text
from xuanyuan.utils.extras import MissingExtraError, require


def test_records_and_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": ""}\n{"id": 3}\n[1, 2]\n{broken\n', encoding="utf-8")
    records = iter_jsonl(path)
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
    errors = []
    assert [r.data["text"] for r in iter_jsonl(path, errors)] == ["a", "b"]
    assert [(e.line, e.problem.split(" (")[0]) for e in errors] == [
        (2, "expected a JSON object, got list"),
        (3, "invalid JSON"),
    ]


def test_missing_extra_names_the_extra(monkeypatch):
    import sys

    # A None entry in sys.modules makes any import of the name raise ImportError, imported before or not.
    monkeypatch.setitem(sys.modules, "deepspeed", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'xuanyuan-recipes\[deepspeed\]'"):
        require("deepspeed")
    assert require("json").dumps([1]) == "[1]"
