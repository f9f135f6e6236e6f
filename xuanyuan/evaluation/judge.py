"""Pairwise comparison of two models' answers by a judge asked twice, with the answers' order swapped.

A judge maps (prompts, first answers, second answers) to verdicts "first" / "second" / "tie". For every
item the judge sees (model, baseline) and then (baseline, model). Only a consistent verdict counts:
- good: the model's answer wins in both orders;
- bad: the baseline's answer wins in both orders;
- same: anything else — a tie in both orders, or verdicts that change with the order (counted apart as
  `inconsistent`: a judge that follows position rather than content must not score a win).
win_rate = good / items; `decided_win_rate` = good / (good + bad).

Judges: `RewardModelJudge` scores each answer with a sequence-classification reward model (order cannot
matter to it, so both passes agree up to a tie); `LLMJudge` asks a causal LM a fixed Chinese prompt and
compares log P(" 1") with log P(" 2") after the chat template's generation prompt — read from the logits,
not from sampled text, so the verdict is deterministic and never unparsable. `ReplyJudge` asks the same prompt
through a generator (`xuanyuan.data.synthesis.generators`), e.g. an OpenAI-compatible server, which returns text
but no log-probabilities (`transformers serve` has none): its verdict is the label the greedy reply opens with.
For people, `write_rater_sheet` writes a blind CSV (answers shuffled per item, three rater columns) and
a separate key saying which model wrote which answer; `read_rater_sheet` reads the filled sheet back into
good / same / bad per rater and by majority vote, with the raters' agreement (all three agree; Fleiss' kappa).
"""

from __future__ import annotations

import csv
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data.conversations import conversation_text
from ..data.preferences import encode_conversation
from ..data.records import SheetError, read_sheet
from ..utils.padding import pad
from .generation import Sampling
from .reward_report import check_padding, score_sequences

Judge = Callable[[list[list[dict]], list[str], list[str]], list[str]]
VERDICTS = ("first", "second", "tie")


def _verdict(difference: float, tie_tolerance: float) -> str:
    return "first" if difference > tie_tolerance else "second" if difference < -tie_tolerance else "tie"


class RewardModelJudge:
    """The answer with the higher reward wins; rewards within `tie_tolerance` tie."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 16, tie_tolerance=0.0
    ):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size, self.tie_tolerance = batch_size, tie_tolerance
        self.pad = check_padding(model, tokenizer)
        self.scored: dict[tuple[int, ...], float] = {}

    def score(self, prompts: list[list[dict]], answers: list[str]) -> list[float]:
        """The reward of each answer to its prompt (each distinct token sequence scored once per judge)."""
        sequences = [
            tuple(encode_conversation(self.tokenizer, [*prompt, {"role": "assistant", "content": answer}]))
            for prompt, answer in zip(prompts, answers, strict=True)
        ]
        new = list(dict.fromkeys(s for s in sequences if s not in self.scored))
        scores = score_sequences(self.model, [list(s) for s in new], self.pad, self.batch_size)
        self.scored.update(zip(new, scores, strict=True))
        return [self.scored[s] for s in sequences]

    def __call__(self, prompts: list[list[dict]], first: list[str], second: list[str]) -> list[str]:
        scores = self.score(prompts + prompts, first + second)
        n = len(prompts)
        return [_verdict(a - b, self.tie_tolerance) for a, b in zip(scores[:n], scores[n:], strict=True)]


JUDGE_PROMPT = (
    "请比较下面两个回答，判断哪一个更好地回答了用户的问题（准确、有帮助、安全）。\n\n"
    "问题：{question}\n\n回答1：{first}\n\n回答2：{second}\n\n"
    "请只回答更好的回答的编号：1或2。"
)


def judge_question(prompt: list[dict], first: str, second: str, template: str = JUDGE_PROMPT) -> str:
    return template.format(question=conversation_text(prompt), first=first, second=second)


class LLMJudge:
    """A causal LM asked `JUDGE_PROMPT`; the verdict is the sign of log P(prefix+"1") − log P(prefix+"2")."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        batch_size: int = 8,
        labels: tuple[str, str] = ("1", "2"),
        response_prefix: str = " ",  # what the XuanYuan template puts between "Assistant:" and the reply
        tie_tolerance: float = 0.0,
        template: str = JUDGE_PROMPT,
    ):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.labels, self.prefix, self.tie_tolerance, self.template = labels, response_prefix, tie_tolerance, template

    def _encode(self, prompt_text: str, label: str) -> tuple[list[int], int]:
        """Ids of prompt + continuation and the continuation's start; the prompt must tokenize as a prefix."""
        prompt_ids = self.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        ids = self.tokenizer(prompt_text + self.prefix + label, add_special_tokens=False)["input_ids"]
        if ids[: len(prompt_ids)] != prompt_ids or len(ids) == len(prompt_ids):
            raise ValueError(f"The judge answer {self.prefix + label!r} merges with the prompt's last token.")
        return ids, len(prompt_ids)

    @torch.no_grad()
    def log_probs(self, sequences: list[tuple[list[int], int]]) -> list[float]:
        """Summed log-probability of each sequence's continuation (from its start index)."""
        device = next(self.model.parameters()).device
        pad_token_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        results = []
        for start in range(0, len(sequences), self.batch_size):
            batch = sequences[start : start + self.batch_size]
            input_ids, mask = pad([ids for ids, _ in batch], pad_token_id)
            logits = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits.float()
            token_logp = F.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None].to(device))[..., 0]
            for row, (ids, begin) in enumerate(batch):
                results.append(token_logp[row, begin - 1 : len(ids) - 1].sum().item())
        return results

    def __call__(self, prompts: list[list[dict]], first: list[str], second: list[str]) -> list[str]:
        sequences = []
        for prompt, a, b in zip(prompts, first, second, strict=True):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": judge_question(prompt, a, b, self.template)}],
                tokenize=False,
                add_generation_prompt=True,
            )
            sequences += [self._encode(text, label) for label in self.labels]
        scores = self.log_probs(sequences)
        return [_verdict(a - b, self.tie_tolerance) for a, b in zip(scores[0::2], scores[1::2], strict=True)]


class ReplyJudge:
    """A chat model behind `generator` asked `JUDGE_PROMPT` greedily. The verdict is the label its reply opens with
    (after optional "回答"; "2023" is no label); a reply that opens with neither is a tie, counted in `unparsed`."""

    def __init__(self, generator, labels=("1", "2"), max_new_tokens: int = 8, template: str = JUDGE_PROMPT):
        self.generator, self.labels, self.template = generator, labels, template
        self.sampling = Sampling(max_new_tokens=max_new_tokens)
        self.pattern = re.compile(rf"\s*(?:回答\s*)?({'|'.join(map(re.escape, labels))})(?!\d)")
        self.unparsed = 0

    def verdict(self, reply: str) -> str:
        found = self.pattern.match(reply)
        if found is None:
            self.unparsed += 1
            return "tie"
        return VERDICTS[self.labels.index(found.group(1))]

    def __call__(self, prompts: list[list[dict]], first: list[str], second: list[str]) -> list[str]:
        questions = [
            [{"role": "user", "content": judge_question(prompt, a, b, self.template)}]
            for prompt, a, b in zip(prompts, first, second, strict=True)
        ]
        return [self.verdict(replies[0]) for replies in self.generator.complete(questions, self.sampling)]


def outcome(forward: str, backward: str) -> str:
    """good / same / bad for the model from (verdict with the model's answer first, verdict with it second)."""
    if forward == "first" and backward == "second":
        return "good"
    if forward == "second" and backward == "first":
        return "bad"
    return "same"


@dataclass
class Comparison:
    forward: list[str]  # verdicts with the model's answer shown first
    backward: list[str]  # verdicts with the model's answer shown second
    outcomes: list[str]

    def summary(self) -> dict:
        n = len(self.outcomes)
        good, same, bad = (self.outcomes.count(name) for name in ("good", "same", "bad"))
        rows = zip(self.outcomes, self.forward, self.backward, strict=True)
        inconsistent = sum(o == "same" and (f, b) != ("tie", "tie") for o, f, b in rows)
        return {
            "num_items": n,
            "good": good,
            "same": same,
            "bad": bad,
            "inconsistent": inconsistent,
            "win_rate": good / n if n else None,
            "loss_rate": bad / n if n else None,
            "decided_win_rate": good / (good + bad) if good + bad else None,
        }


def pairwise_compare(judge: Judge, prompts: list[list[dict]], answers: list[str], baseline: list[str]) -> Comparison:
    """Judge every item twice, the model's answer first then second; see the module docstring."""
    forward = judge(prompts, answers, baseline)
    backward = judge(prompts, baseline, answers)
    for verdict in (*forward, *backward):
        if verdict not in VERDICTS:
            raise ValueError(f"a judge returned {verdict!r}; expected one of {VERDICTS}")
    return Comparison(forward, backward, [outcome(f, b) for f, b in zip(forward, backward, strict=True)])


RATERS = ["rater_1", "rater_2", "rater_3"]
RATER_COLUMNS = ["id", "question", "answer_1", "answer_2", *RATERS]
RATINGS = ("1", "2", "same")
OUTCOMES = ("good", "same", "bad")


def write_rater_sheet(
    sheet_path: str | Path,
    key_path: str | Path,
    ids: list[str],
    prompts: list[list[dict]],
    answers: dict[str, list[str]],
    judge_outcomes: list[str] | None = None,
    seed: int = 0,
) -> None:
    """Blind sheet for three human raters (each writes 1, 2 or same) and its key.

    `answers` maps the two model names to their answers. Which model's answer is `answer_1` is drawn per
    item with `seed`; the key CSV (id, answer_1_model, answer_2_model, judge_outcome) stays with the
    organiser. UTF-8 with BOM so spreadsheet programs show the Chinese text.
    """
    (name_a, answers_a), (name_b, answers_b) = answers.items()
    rng = random.Random(seed)
    with (
        open(sheet_path, "w", encoding="utf-8-sig", newline="") as sheet,
        open(key_path, "w", encoding="utf-8-sig", newline="") as key,
    ):
        sheet_writer, key_writer = csv.writer(sheet), csv.writer(key)
        sheet_writer.writerow(RATER_COLUMNS)
        key_writer.writerow(["id", "answer_1_model", "answer_2_model", "judge_outcome"])
        for index, item_id in enumerate(ids):
            shown = [(name_a, answers_a[index]), (name_b, answers_b[index])]
            if rng.random() < 0.5:
                shown.reverse()
            sheet_writer.writerow([item_id, conversation_text(prompts[index]), shown[0][1], shown[1][1], "", "", ""])
            judged = judge_outcomes[index] if judge_outcomes else ""
            key_writer.writerow([item_id, shown[0][0], shown[1][0], judged])


def read_rater_sheet(sheet_path: str | Path, key_path: str | Path, model_name: str) -> dict:
    """good / same / bad for `model_name` against the other model of a filled `write_rater_sheet` sheet.

    Per rater (a blank cell is counted as unrated) and by majority vote (an outcome at least two of the three
    raters gave; else `no_majority`); agreement over the items all three rated: the share where all three agree
    and Fleiss' kappa; and, where the key holds the automatic judge's outcomes, how often the majority agrees with
    it. A rating other than 1, 2 or same, or an id missing from the key, is a `SheetError` naming file, row and
    column.
    """
    key = {row.data["id"]: row for row in read_sheet(key_path, ["id", "answer_1_model", "answer_2_model"])}
    per_rater = {rater: Counter(dict.fromkeys((*OUTCOMES, "unrated"), 0)) for rater in RATERS}
    majority, votes, judged, baselines = Counter(dict.fromkeys((*OUTCOMES, "no_majority"), 0)), [], [], set()
    sheet = read_sheet(sheet_path, ["id", *RATERS])
    for row in sheet:
        entry = key.get(row.data["id"])
        if entry is None:
            raise SheetError(row.path, row.line, "id", f"{row.data['id']!r} is not in the key {key_path}")
        models = (entry.data["answer_1_model"], entry.data["answer_2_model"])
        if model_name not in models:
            problem = f"names the models {models[0]!r} and {models[1]!r}; {model_name!r} is neither"
            raise SheetError(entry.path, entry.line, "answer_1_model", problem)
        baselines.add(models[1 - models.index(model_name)])
        outcomes = []
        for rater in RATERS:
            rating = unicodedata.normalize("NFKC", row.data[rater]).strip().lower()
            if not rating:
                per_rater[rater]["unrated"] += 1
                continue
            if rating not in RATINGS:
                raise SheetError(row.path, row.line, rater, f"{row.data[rater]!r}: write 1, 2 or same")
            outcome = "same" if rating == "same" else "good" if models[int(rating) - 1] == model_name else "bad"
            per_rater[rater][outcome] += 1
            outcomes.append(outcome)
        top, count = Counter(outcomes).most_common(1)[0] if outcomes else (None, 0)
        majority[top if count >= 2 else "no_majority"] += 1
        if count >= 2 and entry.data.get("judge_outcome"):
            judged.append(top == entry.data["judge_outcome"])
        if len(outcomes) == len(RATERS):
            votes.append([outcomes.count(outcome) for outcome in OUTCOMES])
    decided = majority["good"] + majority["bad"]
    return {
        "model": model_name,
        "baseline": "/".join(sorted(baselines)),
        "num_items": len(sheet),
        "per_rater": {rater: dict(counts) for rater, counts in per_rater.items()},
        "majority": {**majority, "win_rate": majority["good"] / len(sheet) if sheet else None,
                     "decided_win_rate": majority["good"] / decided if decided else None},
        "agreement": {
            "items_rated_by_all": len(votes),
            "all_agree": sum(max(v) == len(RATERS) for v in votes) / len(votes) if votes else None,
            "fleiss_kappa": fleiss_kappa(votes),
        },
        "majority_agrees_with_judge": sum(judged) / len(judged) if judged else None,
    }  # fmt: skip


def fleiss_kappa(counts: list[list[int]]) -> float | None:
    """Fleiss' kappa of items rated by the same number of raters: `counts[i][j]` raters put item i in category j.
    None when there is nothing to measure (no items, or every rating in one category). Written out because the
    formula is ten lines and the libraries that have it (statsmodels) are not otherwise needed here."""
    if not counts:
        return None
    raters = sum(counts[0])
    if raters < 2 or any(sum(row) != raters for row in counts):
        raise ValueError(f"Fleiss' kappa needs the same number (at least 2) of ratings per item, got {counts}")
    items = len(counts)
    observed = sum((sum(n * n for n in row) - raters) / (raters * (raters - 1)) for row in counts) / items
    shares = [sum(row[j] for row in counts) / (items * raters) for j in range(len(counts[0]))]
    expected = sum(p * p for p in shares)
    return None if expected == 1 else (observed - expected) / (1 - expected)
