"""Generate the embedded default data set: the KB, pretraining corpus, SFT, preference, RL and exam files.

Each stage draws from its own `random.Random(f"{seed}:{stage}")`, so the files are byte-identical for a seed
and a change in one stage does not reshuffle the others. `manifest.json` records every file's record count,
size and sha256, headline counts, and the configuration that produced the files (less `output_dir`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import records as records_io
from .documents import BAD_KEYWORDS, KEYWORD_FILE, Document, build_corpus
from .exam import CSV_HEADER, SUBJECTS, build_exam, build_plan
from .knowledge import company_table, concept_triples
from .preferences import build_preferences
from .sft import build_self_qa_tasks, build_sft
from .world import CONCEPTS, build_world


@dataclass
class EmbeddedDataConfig:
    """Size and defect knobs of the embedded synthetic finance world."""

    output_dir: str = field(default="outputs/tiny/data", metadata={"help": "Directory the files are written to."})
    seed: int = field(default=1234, metadata={"help": "Seed of every draw; a seed gives byte-identical files."})
    n_companies: int = field(
        default=12,
        metadata={"help": "Fictional listed companies (at least 12). Each adds 21 facts the exam can ask."},
    )
    n_concepts: int = field(default=24, metadata={"help": f"Finance concepts used (15 to {len(CONCEPTS)})."})
    docs_per_company: int = field(
        default=30,
        metadata={"help": "Chinese documents per company: two full profiles plus news, social, web, textbook."},
    )
    english_docs_per_company: int = field(default=3, metadata={"help": "English documents per company."})
    docs_per_concept: int = field(default=8, metadata={"help": "Documents per concept (encyclopedia entry included)."})
    n_digest_docs: int = field(
        default=1500, metadata={"help": "Quick-reference pages of short fact sentences about four companies each."}
    )
    n_glossary_docs: int = field(
        default=300, metadata={"help": "Glossary pages of short statements about four concepts each."}
    )
    n_exercise_docs: int = field(default=100, metadata={"help": "Practice sheets of C-Eval-style questions."})
    heldout_fraction: float = field(default=0.05, metadata={"help": "Held-out documents, as a share of clean ones."})
    traditional_fraction: float = field(
        default=0.05, metadata={"help": "Share of Chinese documents made traditional."}
    )
    near_duplicate_fraction: float = field(default=0.08, metadata={"help": "Near-duplicate copies, as a share."})
    defect_fraction: float = field(
        default=0.02,
        metadata={
            "help": "Share for each other defect (punctuation, symbols, whitespace, spam, noise); half of it for "
            "exact duplicates and for numeric-variant pairs."
        },
    )
    clean_monthly_reports: int = field(
        default=0,
        metadata={
            "help": "Monthly operating bulletins written as ordinary clean documents. The main world has them only as "
            "planted figure-only variant pairs; a clean reference world for the perplexity filter needs the genre."
        },
    )
    exam_val_size: int = field(default=80, metadata={"help": "Most val facts per subject."})
    exam_test_size: int = field(default=80, metadata={"help": "Most test facts per subject."})
    exam_val_share: float = field(
        default=1 / 3,
        metadata={
            "help": "Share of each subject's facts asked in val; test gets the rest of two thirds, and the last third "
            "stays for exercise (practice questions in the corpus and SFT data)."
        },
    )
    exam_renderings: int = field(
        default=1, metadata={"help": "Questions per val/test fact, each worded and shuffled anew (a bigger exam)."}
    )
    sft_size: int = field(default=3000, metadata={"help": "Target SFT records, train and test together."})
    sft_test_fraction: float = field(default=0.05, metadata={"help": "Share of SFT records held out as test."})
    self_qa_tasks: int = field(
        default=1200, metadata={"help": "Self-QA-shaped SFT records (the synthesis generator's), train and test."}
    )
    n_preference_pairs: int = field(default=1500, metadata={"help": "Preference pairs with A3..B3 labels."})
    n_ranked: int = field(default=200, metadata={"help": "Prompts with four responses ranked best first."})
    n_rl_prompts: int = field(default=600, metadata={"help": "RLHF prompts, half reused from preference pairs."})

    def __post_init__(self) -> None:
        if self.n_companies < 12:
            raise ValueError(f"n_companies must be at least 12, got {self.n_companies}")
        if not 15 <= self.n_concepts <= len(CONCEPTS):
            raise ValueError(f"n_concepts must be between 15 and {len(CONCEPTS)}, got {self.n_concepts}")
        if self.docs_per_company < 2 or self.docs_per_concept < 1:
            raise ValueError("docs_per_company must be at least 2 and docs_per_concept at least 1")
        for name in ("heldout_fraction", "traditional_fraction", "near_duplicate_fraction", "defect_fraction"):
            if not 0 <= getattr(self, name) <= 0.25:
                raise ValueError(f"{name} must be between 0 and 0.25, got {getattr(self, name)}")
        if not 0 < self.exam_val_share < 2 / 3:
            raise ValueError(f"exam_val_share must be in (0, 2/3), got {self.exam_val_share}")
        if not 0 < self.sft_test_fraction < 0.5:
            raise ValueError(f"sft_test_fraction must be between 0 and 0.5, got {self.sft_test_fraction}")
        if self.self_qa_tasks < 2:
            raise ValueError(f"self_qa_tasks must be at least 2 (a train and a test record), got {self.self_qa_tasks}")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_jsonl(path: Path, records: list[dict]) -> int:
    """One `json.dumps(ensure_ascii=False, sort_keys=True)` line per record; returns the record count."""
    return records_io.write_jsonl(path, records, sort_keys=True)


def _write_json(path: Path, data: dict) -> int:
    _write(path, json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n")
    return len(data)


def _write_csv(path: Path, rows: list[list[str]], header: list[str] = CSV_HEADER) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    _write(path, buffer.getvalue())
    return len(rows)


def _documents(docs: list[Document]) -> list[dict]:
    return [{"id": doc.id, "text": doc.text, "lang": doc.lang, "domain": doc.domain} for doc in docs]


def generate_embedded_data(config: EmbeddedDataConfig) -> dict:
    """Build every artefact from `config.seed`, write it under `config.output_dir`, and return the manifest."""

    def rng(stage: str) -> random.Random:
        return random.Random(f"{config.seed}:{stage}")

    world = build_world(rng("world"), config)
    plan = build_plan(rng("plan"), world, config.exam_val_size, config.exam_test_size, config.exam_val_share)
    corpus = build_corpus(rng("documents"), world, plan, config)
    sft_train, sft_test, sft_audit = build_sft(rng("sft"), world, plan, config)
    self_qa_train, self_qa_test = build_self_qa_tasks(rng("self_qa_tasks"), world, plan, config)
    pairs, ranked, rl_prompts = build_preferences(rng("preferences"), world, config)
    tables, answers = build_exam(rng("exam"), world, plan, config.exam_renderings)
    exercise_audit = [
        {"source": "pretrain", "id": doc.id, "subject": f.subject, "entity": f.entity, "attribute": f.attribute}
        for doc in corpus.raw
        for f in doc.facts
    ]

    out = Path(config.output_dir)
    jsonl_files = {
        "pretrain/raw.jsonl": _documents(corpus.raw),
        "pretrain/planted.jsonl": corpus.planted,
        "pretrain/heldout.jsonl": _documents(corpus.heldout),
        "sft/train.jsonl": sft_train,
        "sft/test.jsonl": sft_test,
        "sft/self_qa_train.jsonl": self_qa_train,
        "sft/self_qa_test.jsonl": self_qa_test,
        "preference/pairs.jsonl": pairs,
        "preference/ranked.jsonl": ranked,
        "rl/prompts.jsonl": rl_prompts,
        "exam/answers.jsonl": answers,
        "exam/exercise_facts.jsonl": exercise_audit + sft_audit,
        "knowledge/concept_triples.jsonl": concept_triples(world),
    }
    counts = {name: write_jsonl(out / name, records) for name, records in jsonl_files.items()}
    counts["kb.json"] = _write_json(out / "kb.json", world.to_json())
    counts["exam/subject_mapping.json"] = _write_json(out / "exam/subject_mapping.json", SUBJECTS)
    _write(out / "pretrain/bad_keywords.txt", KEYWORD_FILE.read_text(encoding="utf-8"))
    counts["pretrain/bad_keywords.txt"] = len(BAD_KEYWORDS)
    for name, rows in tables.items():
        counts[f"exam/{name}"] = _write_csv(out / "exam" / name, rows)
    header, *companies = company_table(world)
    counts["knowledge/companies.csv"] = _write_csv(out / "knowledge/companies.csv", companies, header)

    files = {}
    for name in sorted(counts):
        data = (out / name).read_bytes()
        files[name] = {"records": counts[name], "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    settings = {key: value for key, value in asdict(config).items() if key != "output_dir"}
    summary = {
        "companies": len(world.companies),
        "concepts": len(world.concepts),
        "raw_docs": len(corpus.raw),
        "raw_text_mb": round(sum(len(doc.text.encode("utf-8")) for doc in corpus.raw) / 1e6, 2),
        "planted": len(corpus.planted),
        "heldout_docs": len(corpus.heldout),
        "sft_train": len(sft_train),
        "sft_test": len(sft_test),
        "preference_pairs": len(pairs),
        "ranked": len(ranked),
        "rl_prompts": len(rl_prompts),
        "exam_val": sum(answer["split"] == "val" for answer in answers),
        "exam_test": sum(answer["split"] == "test" for answer in answers),
    }
    manifest = {"config": settings, "counts": summary, "files": files}
    _write_json(out / "manifest.json", manifest)
    return manifest
