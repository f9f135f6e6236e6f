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
not from sampled text, so the verdict is deterministic and never unparsable.
For people, `write_rater_sheet` writes a blind CSV (answers shuffled per item, three rater columns) and
a separate key saying which model wrote which answer.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data.preferences import encode_conversation
from ..utils.padding import pad
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

    def score(self, prompts: list[list[dict]], answers: list[str]) -> list[float]:
        """The reward of each answer to its prompt."""
        sequences = [
            encode_conversation(self.tokenizer, [*prompt, {"role": "assistant", "content": answer}])
            for prompt, answer in zip(prompts, answers, strict=True)
        ]
        return score_sequences(self.model, sequences, self.pad, self.batch_size)

    def __call__(self, prompts: list[list[dict]], first: list[str], second: list[str]) -> list[str]:
        scores = self.score(prompts + prompts, first + second)
        n = len(prompts)
        return [_verdict(a - b, self.tie_tolerance) for a, b in zip(scores[:n], scores[n:], strict=True)]


JUDGE_PROMPT = (
    "请比较下面两个回答，判断哪一个更好地回答了用户的问题（准确、有帮助、安全）。\n\n"
    "问题：{question}\n\n回答1：{first}\n\n回答2：{second}\n\n"
    "请只回答更好的回答的编号：1或2。"
)


def _question(prompt: list[dict]) -> str:
    if len(prompt) == 1:
        return prompt[0]["content"]
    names = {"system": "系统", "user": "用户", "assistant": "助手"}
    return "\n".join(f"{names[m['role']]}：{m['content']}" for m in prompt)


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
            question = self.template.format(question=_question(prompt), first=a, second=b)
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
            )
            sequences += [self._encode(text, label) for label in self.labels]
        scores = self.log_probs(sequences)
        return [_verdict(a - b, self.tie_tolerance) for a, b in zip(scores[0::2], scores[1::2], strict=True)]


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


RATER_COLUMNS = ["id", "question", "answer_1", "answer_2", "rater_1", "rater_2", "rater_3"]


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
            sheet_writer.writerow([item_id, _question(prompts[index]), shown[0][1], shown[1][1], "", "", ""])
            judged = judge_outcomes[index] if judge_outcomes else ""
            key_writer.writerow([item_id, shown[0][0], shown[1][0], judged])
