"""Official benchmark layouts read from disk; layout errors name the file (and line / column)."""

import csv
import json

import pytest

from xuanyuan.data.records import RecordError
from xuanyuan.evaluation import mc_eval
from xuanyuan.evaluation.mc_data import get_benchmark, load_hub, load_local

CEVAL_HEADER = ["id", "question", "A", "B", "C", "D", "answer", "explanation"]
CMMLU_HEADER = ["", "Question", "A", "B", "C", "D", "Answer"]


def write_csv(path, header, rows, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def ceval_rows(n, answer="A"):
    return [[str(i), f"问题{i}", "1.50", "2", "3", "4", answer, ""] for i in range(n)]


def cmmlu_rows(n):
    return [[str(i), f"题{i}", "甲", "乙", "丙", "丁", "C"] for i in range(n)]


@pytest.fixture
def ceval_dir(tmp_path):
    for subject in ("accountant", "logic"):
        write_csv(tmp_path / "dev" / f"{subject}_dev.csv", CEVAL_HEADER, ceval_rows(5))
        write_csv(tmp_path / "val" / f"{subject}_val.csv", CEVAL_HEADER, ceval_rows(3, "D"))
    return tmp_path


def test_ceval_layout_uses_the_shipped_subject_list_and_keeps_cells_verbatim(ceval_dir):
    subjects = load_local(get_benchmark("ceval"), ceval_dir, "val", num_fewshot=5)
    assert [s.name for s in subjects] == ["accountant", "logic"]
    assert (subjects[0].name_zh, subjects[0].categories) == ("注册会计师", ("Other",))
    assert (subjects[1].name_zh, subjects[1].categories) == ("逻辑学", ("Humanities",))
    assert len(subjects[0].dev) == 5 and len(subjects[0].questions) == 3
    assert subjects[0].questions[2].options[0] == "1.50"  # pandas would make this 1.5
    assert subjects[0].questions[2].answer == "D" and subjects[0].questions[2].id == "2"


def test_subject_mapping_json_beside_the_data_wins(ceval_dir):
    mapping = {"accountant": ["Acc", "会计", "STEM"], "logic": ["Logic", "逻辑", ["Humanities", "China specific"]]}
    (ceval_dir / "subject_mapping.json").write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    subjects = load_local(get_benchmark("ceval"), ceval_dir, "val", num_fewshot=0)
    found = [(s.name_zh, s.categories) for s in subjects]
    assert found == [("会计", ("STEM",)), ("逻辑", ("Humanities", "China specific"))]
    assert subjects[0].dev == []


def test_cmmlu_and_finance_iq_layouts(tmp_path):
    write_csv(tmp_path / "cmmlu" / "dev" / "ancient_chinese.csv", CMMLU_HEADER, cmmlu_rows(5))
    write_csv(tmp_path / "cmmlu" / "test" / "ancient_chinese.csv", CMMLU_HEADER, cmmlu_rows(4))
    (subject,) = load_local(get_benchmark("cmmlu"), tmp_path / "cmmlu", "test", num_fewshot=5)
    assert (subject.name_zh, subject.categories) == ("古汉语", ("Social Science", "China specific"))
    assert subject.questions[3].question == "题3" and subject.questions[3].answer == "C"

    root = tmp_path / "FinanceIQ"
    write_csv(root / "data" / "dev" / "税务师.csv", CMMLU_HEADER, cmmlu_rows(5))
    write_csv(root / "data" / "test" / "税务师.csv", CMMLU_HEADER, cmmlu_rows(2))
    for data_dir in (root, root / "data"):
        (subject,) = load_local(get_benchmark("finance_iq"), data_dir, "test", num_fewshot=5)
        assert (subject.name, subject.name_zh, subject.categories) == ("税务师", "税务师", ())
        assert len(subject.questions) == 2


def test_bad_answer_names_file_line_and_column(ceval_dir):
    rows = ceval_rows(3)
    rows[1][6] = "E"
    write_csv(ceval_dir / "val" / "logic_val.csv", CEVAL_HEADER, rows)
    with pytest.raises(RecordError, match=r"logic_val\.csv, line 3, field 'answer': answer must be one of A/B/C/D"):
        load_local(get_benchmark("ceval"), ceval_dir, "val", num_fewshot=0)


def write_ceval_subject(root, encoding):
    for split, n in (("dev", 5), ("val", 3)):
        write_csv(root / split / f"accountant_{split}.csv", CEVAL_HEADER, ceval_rows(n), encoding=encoding)


def test_gbk_exam_files_fail_clearly_as_utf8_and_load_with_their_encoding(tmp_path):
    write_ceval_subject(tmp_path / "gbk", "gbk")
    offset = len(",".join(CEVAL_HEADER) + "\r\n0,")  # the ASCII header row, then 问 of 问题0: 0xce 0xca in GBK
    message = rf"accountant_val\.csv, line 2: not valid UTF-8 \(byte 0xce at offset {offset}\); .*--encoding gbk"
    with pytest.raises(RecordError, match=message):
        load_local(get_benchmark("ceval"), tmp_path / "gbk", "val", num_fewshot=5)
    (subject,) = load_local(get_benchmark("ceval"), tmp_path / "gbk", "val", num_fewshot=5, encoding="gbk")
    assert [q.question for q in subject.questions] == ["问题0", "问题1", "问题2"] and len(subject.dev) == 5

    write_ceval_subject(tmp_path / "bom", "utf-8-sig")  # a UTF-8 BOM, as Excel writes it
    (subject,) = load_local(get_benchmark("ceval"), tmp_path / "bom", "val", num_fewshot=5)
    assert subject.questions[0].id == "0" and subject.questions[0].question == "问题0"


def test_mc_eval_config_takes_the_encoding(tmp_path, monkeypatch):
    class DataLoaded(Exception):
        pass

    def stop(*args, **kwargs):  # the tokenizer loads right after the data: stop there, no model needed
        raise DataLoaded

    monkeypatch.setattr("xuanyuan.tokenization.load_tokenizer", stop)  # mc_eval imports it when it runs
    write_ceval_subject(tmp_path, "gbk")
    config = mc_eval.MCEvalConfig(model="no/such-model", output_dir=str(tmp_path / "out"), data_dir=str(tmp_path))
    with pytest.raises(RecordError, match="--encoding gbk"):
        mc_eval.run_mc_eval(config)
    config.encoding = "gbk"
    with pytest.raises(DataLoaded):
        mc_eval.run_mc_eval(config)


def test_a_repeated_question_id_names_both_lines(ceval_dir):
    rows = ceval_rows(3)
    rows[2][0] = "0"
    write_csv(ceval_dir / "val" / "logic_val.csv", CEVAL_HEADER, rows)
    with pytest.raises(
        RecordError, match=r"logic_val\.csv, line 4, field 'id': duplicate id '0' \(also at .*, line 2\)"
    ):
        load_local(get_benchmark("ceval"), ceval_dir, "val", num_fewshot=0)


def test_missing_column_names_the_file(tmp_path):
    write_csv(tmp_path / "test" / "arts.csv", ["", "Question", "A", "B", "C", "D"], [["0", "q", "1", "2", "3", "4"]])
    with pytest.raises(RecordError, match=r"arts\.csv, line 1, field 'Answer': missing column"):
        load_local(get_benchmark("cmmlu"), tmp_path, "test", num_fewshot=0)


def test_ragged_row_names_file_and_line(ceval_dir):
    path = ceval_dir / "val" / "logic_val.csv"
    path.write_text(path.read_text(encoding="utf-8") + "9,short,row\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"logic_val\.csv, line 5: expected 8 cells, got 3"):
        load_local(get_benchmark("ceval"), ceval_dir, "val", num_fewshot=0)


def test_missing_dev_file_and_too_few_shots_name_the_file(ceval_dir):
    (ceval_dir / "dev" / "logic_dev.csv").unlink()
    with pytest.raises(RecordError, match=r"logic_dev\.csv, line 0: file not found"):
        load_local(get_benchmark("ceval"), ceval_dir, "val", num_fewshot=5)
    write_csv(ceval_dir / "dev" / "logic_dev.csv", CEVAL_HEADER, ceval_rows(3))
    with pytest.raises(RecordError, match=r"logic_dev\.csv.*has 3 dev examples; num_fewshot=5"):
        load_local(get_benchmark("ceval"), ceval_dir, "val", num_fewshot=5)


def test_missing_split_folder_and_unknown_subject_are_named(ceval_dir):
    with pytest.raises(RecordError, match=r"/test, line 0: split folder not found"):
        load_local(get_benchmark("ceval"), ceval_dir, "test", num_fewshot=0)
    write_csv(ceval_dir / "val" / "astrology_val.csv", CEVAL_HEADER, ceval_rows(2))
    with pytest.raises(RecordError, match=r"astrology_val\.csv.*'astrology' is not in the subject mapping"):
        load_local(get_benchmark("ceval"), ceval_dir, "val", num_fewshot=0)


def test_hub_rows_go_through_the_same_checks(monkeypatch):
    """No network here: `datasets.load_dataset` is replaced by rows in the Hub's C-Eval schema."""
    import datasets

    calls, answer = [], ["B"]

    def fake_load_dataset(repo, name, split):
        calls.append((repo, name, split))
        n = 5 if split == "dev" else 2
        return [{"id": i, "question": f"q{i}", "A": "1", "B": "2", "C": "3", "D": "4", "answer": answer[0],
                 "explanation": ""} for i in range(n)]  # fmt: skip

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    (subject,) = load_hub(get_benchmark("ceval"), "val", 5, ["logic"])
    assert calls == [("ceval/ceval-exam", "logic", "val"), ("ceval/ceval-exam", "logic", "dev")]
    assert (subject.name_zh, len(subject.dev), subject.questions[1].id, subject.questions[1].answer) == (
        "逻辑学",
        5,
        "1",
        "B",
    )
    answer[0] = ""
    with pytest.raises(RecordError, match=r"ceval/ceval-exam:logic:dev, line 0, field 'answer'"):
        load_hub(get_benchmark("ceval"), "val", 5, ["logic"])
