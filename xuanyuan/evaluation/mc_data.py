"""Multiple-choice benchmarks (C-Eval, CMMLU, FinanceIQ) read from their official layouts or the Hub.

Local layouts, as the official repositories ship them:
- C-Eval: `{dev,val,test}/{subject}_{split}.csv`, columns `id,question,A,B,C,D,answer[,explanation]`, and
  an optional `subject_mapping.json` (`{subject: [name_en, name_zh, category]}`) beside them; without it the
  shipped 52-subject list is used. The embedded exam (`recipes/generate_data.py`) is in this layout.
- CMMLU: `{dev,test}/{subject}.csv`, a leading unnamed index column then `Question,A,B,C,D,Answer`.
- FinanceIQ: the CMMLU layout under `data/` (`data/{dev,test}/{subject}.csv`, Chinese subject names).

CSV files are read with the standard `csv` module so every cell stays the exact text of the file (pandas,
which the official scripts use, would turn an option `1.50` into `1.5`), in UTF-8 (a BOM is accepted) or the
given `encoding` (Chinese exam files often come in GBK). A file that breaks the layout or does not decode raises
`RecordError` naming the file, the line and the column. Every row of the scored split is kept: a row whose
answer is not one of A-D is an error, never a silent skip.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..data.records import Record, RecordError, check_unique_id, read_text

LETTERS = ("A", "B", "C", "D")
BENCHMARK_LISTS = Path(__file__).resolve().parent.parent / "resources" / "benchmarks"
ENCODING_HINT = "pass the file's encoding with --encoding (e.g. --encoding gbk for GBK files) or convert it to UTF-8"


@dataclass(frozen=True)
class MCQuestion:
    id: str
    question: str
    options: tuple[str, str, str, str]
    answer: str  # one of LETTERS


@dataclass
class MCSubject:
    name: str
    name_zh: str
    categories: tuple[str, ...]  # C-Eval: one; CMMLU: one or two (e.g. Humanities and China specific)
    dev: list[MCQuestion]  # few-shot source, in file order
    questions: list[MCQuestion]  # the scored split


@dataclass(frozen=True)
class Benchmark:
    name: str
    prompt_style: str  # "ceval" or "cmmlu" (see mc_prompts)
    hub_id: str
    default_split: str
    columns: tuple[str, ...]  # question, A, B, C, D, answer column names
    category_order: tuple[str, ...]


BENCHMARKS = {
    "ceval": Benchmark(
        "ceval", "ceval", "ceval/ceval-exam", "val", ("question", *LETTERS, "answer"),
        ("STEM", "Social Science", "Humanities", "Other"),
    ),
    "cmmlu": Benchmark(
        "cmmlu", "cmmlu", "haonan-li/cmmlu", "test", ("Question", *LETTERS, "Answer"),
        ("STEM", "Humanities", "Social Science", "Other", "China specific"),
    ),
    "finance_iq": Benchmark(
        "finance_iq", "cmmlu", "Duxiaoman-DI/FinanceIQ", "test", ("Question", *LETTERS, "Answer"), (),
    ),
}  # fmt: skip


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]


def subject_file(benchmark: Benchmark, root: Path, split: str, subject: str) -> Path:
    return root / split / (f"{subject}_{split}.csv" if benchmark.name == "ceval" else f"{subject}.csv")


def data_root(benchmark: Benchmark, data_dir: str | Path) -> Path:
    """The folder holding the split folders (FinanceIQ keeps them under `data/`)."""
    root = Path(data_dir)
    if benchmark.name == "finance_iq" and (root / "data").is_dir():
        return root / "data"
    return root


def read_questions(path: Path, columns: tuple[str, ...], encoding: str = "utf-8") -> list[MCQuestion]:
    """Rows of one subject file; the id is the `id` column, else the leading index column, else the row number.
    Ids must be unique (reports match questions across runs by subject and id)."""
    if not path.is_file():
        raise RecordError(path, 0, None, "file not found")
    with io.StringIO(read_text(path, encoding, ENCODING_HINT), newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise RecordError(path, 1, None, "empty file (expected a header row)")
        missing = [name for name in columns if name not in header]
        if missing:
            raise RecordError(path, 1, missing[0], f"missing column; header is {header}")
        where = [header.index(name) for name in columns]
        id_column = header.index("id") if "id" in header else (0 if header[0] in ("", "Unnamed: 0") else None)
        questions, seen = [], {}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise RecordError(path, reader.line_num, None, f"expected {len(header)} cells, got {len(row)}")
            question, *options, answer = (row[i] for i in where)
            answer = answer.strip()
            if answer not in LETTERS:
                problem = f"answer must be one of {'/'.join(LETTERS)}, got {answer!r}"
                raise RecordError(path, reader.line_num, columns[-1], problem)
            if not question.strip():
                raise RecordError(path, reader.line_num, columns[0], "empty question")
            qid = row[id_column] if id_column is not None else str(len(questions))
            check_unique_id(seen, Record(str(path), reader.line_num, {}), qid)
            questions.append(MCQuestion(qid, question, tuple(options), answer))
    if not questions:
        raise RecordError(path, 1, None, "no questions")
    return questions


SubjectInfo = dict[str, tuple[str, tuple[str, ...]]]  # subject -> (Chinese name, categories)


def load_subject_info(benchmark: Benchmark, root: Path) -> SubjectInfo:
    """`subject_mapping.json` in the data folder (C-Eval's format; a category may be a list), else the shipped list."""
    mapping_path = root / "subject_mapping.json"
    if not mapping_path.is_file():
        return shipped_subject_info(benchmark)
    info = {}
    for subject, entry in json.loads(read_text(mapping_path)).items():
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[1], str)):
            raise RecordError(mapping_path, 0, subject, f"expected [name_en, name_zh, category], got {entry!r:.80}")
        category = entry[2]
        info[subject] = (entry[1], tuple(category) if isinstance(category, list) else (category,))
    return info


def shipped_subject_info(benchmark: Benchmark) -> SubjectInfo:
    """The official subject lists shipped in `xuanyuan/resources/benchmarks/`."""
    if benchmark.name == "ceval":
        rows = _read_list("ceval_subjects.csv")
        return {row["subject"]: (row["name_zh"], (row["category"],)) for row in rows}
    if benchmark.name == "cmmlu":
        rows = _read_list("cmmlu_subjects.csv")
        return {row["subject"]: (row["name_zh"], tuple(row["categories"].split(";"))) for row in rows}
    return {row["subject"]: (row["subject"], ()) for row in _read_list("financeiq_subjects.csv")}


def _read_list(name: str) -> list[dict[str, str]]:
    with open(BENCHMARK_LISTS / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def discover_subjects(benchmark: Benchmark, root: Path, split: str) -> list[str]:
    folder = root / split
    if not folder.is_dir():
        raise RecordError(folder, 0, None, f"split folder not found (expected the official {benchmark.name} layout)")
    suffix = subject_file(benchmark, root, split, "").name  # what follows the subject in its file name
    subjects = sorted(path.name[: -len(suffix)] for path in folder.glob(f"*{suffix}"))
    if not subjects:
        raise RecordError(folder, 0, None, f"no subject files matching *{suffix}")
    return subjects


def load_local(
    benchmark: Benchmark,
    data_dir: str | Path,
    split: str,
    num_fewshot: int,
    subjects: list[str] | None = None,
    encoding: str = "utf-8",
) -> list[MCSubject]:
    """Every subject (or the named ones) of a local copy: the scored `split` plus `dev` shots when needed; the
    CSV files are in `encoding`."""
    root = data_root(benchmark, data_dir)
    info = load_subject_info(benchmark, root)
    loaded = []
    for subject in subjects or discover_subjects(benchmark, root, split):
        path = subject_file(benchmark, root, split, subject)
        if subject not in info:
            raise RecordError(path, 0, None, f"subject {subject!r} is not in the subject mapping; add it to "
                                             f"{root / 'subject_mapping.json'}")  # fmt: skip
        dev_path = subject_file(benchmark, root, "dev", subject)
        questions = read_questions(path, benchmark.columns, encoding=encoding)
        dev = read_questions(dev_path, benchmark.columns, encoding=encoding) if num_fewshot else []
        check_shots(dev_path, dev, num_fewshot)
        name_zh, categories = info[subject]
        loaded.append(MCSubject(subject, name_zh, categories, dev, questions))
    return loaded


def check_shots(where: str | Path, dev: list[MCQuestion], num_fewshot: int) -> None:
    if len(dev) < num_fewshot:
        raise RecordError(where, 0, None, f"has {len(dev)} dev examples; num_fewshot={num_fewshot} needs that many")


def questions_from_rows(rows, columns: tuple[str, ...], where: str) -> list[MCQuestion]:
    """Hub rows (dicts) to questions, with the same checks as the CSV reader; `where` names the source."""
    questions = []
    for index, row in enumerate(rows):
        missing = [name for name in columns if name not in row]
        if missing:
            raise RecordError(where, index, missing[0], "missing column")
        question, *options, answer = (str(row[name]) for name in columns)
        if answer.strip() not in LETTERS:
            raise RecordError(where, index, columns[-1], f"answer must be one of A/B/C/D, got {answer!r}")
        questions.append(MCQuestion(str(row.get("id", index)), question, tuple(options), answer.strip()))
    return questions


def load_hub(
    benchmark: Benchmark, split: str, num_fewshot: int, subjects: list[str] | None = None, hub_id: str | None = None
) -> list[MCSubject]:
    """The benchmark from the Hub (needs network): C-Eval and CMMLU as one `datasets` config per subject;
    FinanceIQ's repository holds the CSV layout, so it is downloaded and read like a local copy."""
    hub_id = hub_id or benchmark.hub_id
    if benchmark.name == "finance_iq":
        from huggingface_hub import snapshot_download

        return load_local(benchmark, snapshot_download(hub_id, repo_type="dataset"), split, num_fewshot, subjects)
    from datasets import load_dataset

    info = shipped_subject_info(benchmark)
    loaded = []
    for subject in subjects or list(info):
        where = f"{hub_id}:{subject}"
        rows = load_dataset(hub_id, subject, split=split)
        dev = questions_from_rows(load_dataset(hub_id, subject, split="dev"), benchmark.columns, where + ":dev")
        check_shots(where + ":dev", dev, num_fewshot)
        questions = questions_from_rows(rows, benchmark.columns, f"{where}:{split}")
        loaded.append(MCSubject(subject, *info[subject], dev if num_fewshot else [], questions))
    return loaded
