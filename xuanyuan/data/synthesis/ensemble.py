"""Answers from several generators, filtered by the reward model and merged into one (XuanYuan's multi-model
ensemble for SFT data).

Every generator answers every query (`sampling.num_samples` replies each, greedy or sampled); the reward model
scores every non-empty answer to its query; answers scoring under `threshold` are dropped (`below_threshold:
score x < t`, written aside) and a query left without an answer is dropped (`no_surviving_answer`). A `merger`
generator writes the final answer from the survivors (template `merge` in
`xuanyuan/resources/synthesis/ensemble.yaml`); a query with a single survivor keeps that answer as it is
(`source.merge: "single_survivor"`, `merged_by: null`). Each record keeps every answer with its generator, score
and verdict.

The scorer is `xuanyuan.evaluation.judge.RewardModelJudge.score` for a trained reward model: it renders
`prompt + [assistant answer]` with the chat template exactly as the reward model was trained (EOS last, where
the reward is read). Funnel steps: `answer`, `empty_answer`, `score`, `threshold`, `surviving_answers`, `merge`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from ..conversations import conversation_text
from ..processing.language import detect_language
from .prompts import LANGUAGES, render

if TYPE_CHECKING:  # the types only: a recipe's --help must not load torch
    from ...evaluation.generation import Sampling
    from .generators import Generator
    from .runner import SynthesisRun

CATEGORY = "ensemble"
SINGLE_SURVIVOR, MERGED = "single_survivor", "merged"
Scorer = Callable[[list[list[dict]], list[str]], list[float]]  # (prompts, answers) -> rewards


@dataclass
class EnsembleConfig:
    threshold: float = field(default=0.0, metadata={"help": "Answers whose reward is below this are dropped."})
    language: str = field(default="auto", metadata={"help": "Of the merge prompt: zh, en, or auto (by script)."})

    def __post_init__(self):
        if self.language not in ("auto", *LANGUAGES):
            raise ValueError(f"language must be auto or one of {LANGUAGES}, got {self.language!r}")


def merge_prompt(templates: dict[str, dict[str, str]], language: str, prompt: list[dict], answers: list[str]) -> str:
    """The merger's instruction for one query and its surviving answers, in order."""
    shown = [render(templates, language, "answer", number=n, text=text) for n, text in enumerate(answers, start=1)]
    return render(templates, language, "merge", question=conversation_text(prompt), answers="\n\n".join(shown))


def ensemble_answers(
    run: SynthesisRun,
    queries: Sequence[dict],
    generators: Sequence[Generator],
    scorer: Scorer,
    reward_model: str,
    merger: Generator,
    templates: dict[str, dict[str, str]],
    config: EnsembleConfig,
    sampling: Sampling,
    merge_sampling: Sampling,
    chunk_size: int = 16,
) -> list[dict]:
    """The SFT records of the queries with at least one answer at or above the threshold, in input order;
    `reward_model` names the scorer in the records and the resume fingerprint."""
    names = [generator.name for generator in generators]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"need one or more generators with distinct names (they key the answers), got {names}")

    def answer(chunk: list[dict], seed: int) -> list[dict]:
        prompts = [item["prompt"] for item in chunk]
        replies = [generator.complete(prompts, sampling, seed) for generator in generators]
        return [
            {**item, "answers": [{"generator": generator.name, "sample": sample, "text": text.strip()}
                                 for generator, per_query in zip(generators, replies, strict=True)
                                 for sample, text in enumerate(per_query[index])]}
            for index, item in enumerate(chunk)
        ]  # fmt: skip

    def score(chunk: list[dict], seed: int) -> list[dict]:
        rewards = scorer([item["prompt"] for item in chunk], [item["text"] for item in chunk])
        return [{**item, "score": float(reward)} for item, reward in zip(chunk, rewards, strict=True)]

    def merge(chunk: list[dict], seed: int) -> list[dict]:
        pending = [item for item in chunk if len(item["survivors"]) > 1]
        prompts = [
            [{"role": "user", "content": merge_prompt(templates, _language(item["prompt"], config), item["prompt"],
                                                      item["survivors"])}]
            for item in pending
        ]  # fmt: skip
        replies = merger.complete(prompts, merge_sampling, seed) if pending else []
        merged = {item["id"]: reply[0].strip() for item, reply in zip(pending, replies, strict=True)}
        outputs = []
        for item in chunk:
            if item["id"] not in merged:
                outputs.append({**item, "final": item["survivors"][0], "merge": SINGLE_SURVIVOR, "merged_by": None})
            elif merged[item["id"]]:
                outputs.append({**item, "final": merged[item["id"]], "merge": MERGED, "merged_by": merger.name})
            else:
                outputs.append({**item, "dropped": f"empty_merge: {merger.name} returned no text"})
        return outputs

    answered = run.generate("answer", queries, answer, chunk_size, {"generators": names, "sampling": asdict(sampling)})
    candidates = [{"id": _answer_id(item["id"], reply), "query_id": item["id"], "prompt": item["prompt"], **reply}
                  for item in answered for reply in item["answers"]]  # fmt: skip
    verdicts = [None if c["text"] else f"empty_answer: {c['generator']} returned no text" for c in candidates]
    non_empty = run.filter("empty_answer", candidates, verdicts)
    scored = run.generate("score", non_empty, score, chunk_size, {"reward_model": reward_model})
    verdicts = [_threshold_verdict(item["score"], config.threshold) for item in scored]
    kept_ids = {item["id"] for item in run.filter("threshold", scored, verdicts)}

    scores = {item["id"]: item["score"] for item in scored}
    summaries, verdicts = [], []
    for item in answered:
        answers = []
        for reply in item["answers"]:
            answer_id = _answer_id(item["id"], reply)
            answers.append({**reply, "score": scores.get(answer_id), "kept": answer_id in kept_ids})
        summaries.append({"id": item["id"], "prompt": item["prompt"], "answers": answers,
                          "survivors": [a["text"] for a in answers if a["kept"]]})  # fmt: skip
        verdicts.append(None if summaries[-1]["survivors"] else _no_survivor(answers, config.threshold))
    surviving = run.filter("surviving_answers", summaries, verdicts)
    merge_settings = {"merger": merger.name, "templates": templates, "sampling": asdict(merge_sampling),
                      "language": config.language}  # fmt: skip
    merged = run.generate("merge", surviving, merge, chunk_size, merge_settings)
    return [_record(item, reward_model, config.threshold) for item in merged]


def _answer_id(query_id: str, reply: dict) -> str:
    return f"{query_id}/{reply['generator']}/{reply['sample']}"


def _language(prompt: list[dict], config: EnsembleConfig) -> str:
    return detect_language(prompt[-1]["content"]) if config.language == "auto" else config.language


def _threshold_verdict(score: float, threshold: float) -> str | None:
    return f"below_threshold: score {score:.6g} < {threshold}" if score < threshold else None


def _no_survivor(answers: list[dict], threshold: float) -> str:
    scores = [a["score"] for a in answers if a["score"] is not None]
    best = f"best score {max(scores):.6g}" if scores else "every answer empty"
    return f"no_surviving_answer: none of {len(answers)} answers reached {threshold} ({best})"


def _record(item: dict, reward_model: str, threshold: float) -> dict:
    return {
        "id": item["id"],
        "messages": [*item["prompt"], {"role": "assistant", "content": item["final"]}],
        "category": CATEGORY,
        "source": {"answers": item["answers"], "merged_by": item["merged_by"], "merge": item["merge"],
                   "reward_model": reward_model, "threshold": threshold},
    }  # fmt: skip
