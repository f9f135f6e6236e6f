"""Alignment methods side by side: each aligned model against the SFT model it started from, on held-out prompts.

Per model, on the same prompts and with the same reward model (RM):
- **reward**: the RM's mean score of the model's greedy answers (rendered by the chat template, ending with the EOS
  the RM was trained on — `RewardModelJudge.score`);
- **KL to SFT**: the mean over prompts of Σ_t log π(y_t) − log π_sft(y_t) over one answer y sampled from π at
  temperature 1 (no top-k/top-p, so the sample is from π itself and the estimate of KL(π‖π_sft) is unbiased);
- **wins / ties / losses** against the SFT model's greedy answers under the RM judge asked in both orders
  (`xuanyuan.evaluation.judge`);
- **exam** (multiple choice, `run_mc_eval`) and its paired difference from SFT with the per-fact sign-flip p-value
  (`xuanyuan.evaluation.paired`);
- **answer length** (characters of the greedy answers) and the wall time of the stages that made the model.
Held-out means: none of the prompts is in the files the methods trained on (`exclude_prompt_files`); the ones that
are are removed and counted. Nothing here is tuned: every model answers with the same settings.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..chat_format import with_system_prompt
from ..data.conversations import load_prompts
from ..training.ppo.core import token_logprobs
from ..training.ppo.rollout import generate_responses, join_responses, response_logits
from ..utils.padding import pad
from .generation import Sampling, complete_chats
from .judge import RewardModelJudge


@dataclass(frozen=True)
class HeldOutPrompts:
    ids: list[str]
    prompts: list[list[dict]]  # chat turns ending with the user's, system prompt included
    excluded: int  # prompts of `prompt_files` that a method trained on, left out


def last_user_turn(messages: list[dict]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user").strip()


def held_out_prompts(
    prompt_files: list[str], exclude_files: list[str], max_prompts: int | None, system_prompt: str | None
) -> HeldOutPrompts:
    """The first `max_prompts` prompts of `prompt_files` whose user question is in none of `exclude_files`."""
    trained_on = set()
    for path in exclude_files:
        rows, _ = load_prompts([path])
        trained_on |= {last_user_turn(row["prompt"]) for row in rows}
    rows, _ = load_prompts(prompt_files)
    unseen = [row for row in rows if last_user_turn(row["prompt"]) not in trained_on]
    kept = unseen[:max_prompts] if max_prompts else unseen
    prompts = [with_system_prompt(row["prompt"], system_prompt) for row in kept]
    return HeldOutPrompts([row["id"] for row in kept], prompts, len(rows) - len(unseen))


@torch.no_grad()
def sampled_kl(
    policy, reference, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int
) -> list[float]:
    """Per prompt, Σ_t log π(y_t) − log π_ref(y_t) over the tokens (through the EOS) of one y ~ π at temperature 1."""
    sampling = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": max_new_tokens}
    tokens = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    device = next(policy.parameters()).device
    kls = []
    for start in range(0, len(prompts), batch_size):
        encoded = [
            list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=False))
            for p in prompts[start : start + batch_size]
        ]
        prompt_ids, prompt_mask = (t.to(device) for t in pad(encoded, tokenizer.pad_token_id, side="left"))
        responses = generate_responses(policy, prompt_ids, prompt_mask, sampling, **tokens)
        input_ids, attention_mask, action_mask = join_responses(prompt_ids, prompt_mask, responses, **tokens)
        width = prompt_ids.shape[1]
        log_ratio = sum(
            sign * token_logprobs(response_logits(model, input_ids, attention_mask, width).float(), responses)
            for sign, model in ((1, policy), (-1, reference))
        )
        kls += (log_ratio * action_mask).sum(dim=1).tolist()
    return kls


@dataclass
class ModelAnswers:
    answers: list[str]
    rewards: list[float]
    kl: list[float]


def answer_and_score(
    model,
    reference,
    judge: RewardModelJudge,
    tokenizer,
    prompts: list[list[dict]],
    max_new_tokens: int,
    batch_size: int,
) -> ModelAnswers:
    """Greedy answers with their RM rewards, and the sampled KL to `reference` (None: the model is the reference)."""
    greedy = Sampling(max_new_tokens=max_new_tokens, temperature=0.0)
    answers = [r[0] for r in complete_chats(model, tokenizer, prompts, greedy, batch_size, progress=False).texts]
    rewards = judge.score(prompts, answers)
    if reference is None:
        kl = [0.0] * len(prompts)
    else:
        kl = sampled_kl(model, reference, tokenizer, prompts, max_new_tokens, batch_size)
    return ModelAnswers(answers, rewards, kl)


@dataclass
class MethodRow:
    name: str
    path: str
    reward_mean: float
    reward_vs_sft: float  # mean reward minus the SFT model's, on the same prompts
    kl_to_sft: float
    good: int
    same: int
    bad: int
    answer_chars: float
    exam_accuracy: float | None = None
    exam_difference: float | None = None
    exam_p_value: float | None = None
    wall_seconds: float | None = None
    verdict: str = ""


def verdict(row: MethodRow, baseline: str) -> str:
    """Plain words on how the method compares with SFT: reward, judge, exam (p < 0.05 only counts as a change)."""
    if row.name == baseline:
        return "the starting point"
    words = ["higher reward than SFT" if row.reward_vs_sft > 0 else "lower reward than SFT (worse)"]
    if row.good == row.bad:
        words.append("judge: as many wins as losses")
    else:
        words.append("judge: more wins than losses" if row.good > row.bad else "judge: more losses than wins (worse)")
    if row.exam_p_value is not None and row.exam_difference is not None:
        if row.exam_p_value < 0.05:
            words.append("exam better" if row.exam_difference > 0 else "exam worse")
        else:
            words.append("exam unchanged (p ≥ 0.05)")
    return "; ".join(words)


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def markdown_table(rows: list[MethodRow], held_out: HeldOutPrompts, exam_scoring: str) -> str:
    lines = [
        f"{len(held_out.ids)} held-out prompts ({held_out.excluded} left out: in a method's training files). "
        "Reward: the reward model on greedy answers; KL: sampled, nats per answer; W/T/L: against SFT, judged by the "
        f"reward model in both orders; exam: {exam_scoring} form, paired difference from SFT, per-fact p-value.",
        "",
        "| method | reward | Δ reward vs SFT | KL to SFT | W / T / L vs SFT | exam | Δ exam (p) | answer chars "
        "| wall s | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        exam = "n/a" if row.exam_accuracy is None else f"{row.exam_accuracy:.3f}"
        delta = "" if row.exam_difference is None else f"{row.exam_difference:+.3f} ({row.exam_p_value:.2f})"
        wall = "n/a" if row.wall_seconds is None else f"{row.wall_seconds:.0f}"
        lines.append(
            f"| {row.name} | {row.reward_mean:.3f} | {row.reward_vs_sft:+.3f} | {row.kl_to_sft:.2f} | "
            f"{row.good} / {row.same} / {row.bad} | {exam} | {delta} | {row.answer_chars:.0f} | {wall} "
            f"| {row.verdict} |"
        )
    return "\n".join(lines) + "\n"


def plot_methods(rows: list[MethodRow], baseline: str, path: str | Path) -> None:
    """Left: reward against KL to SFT, one point per method. Right: wins / ties / losses against SFT."""
    from . import plots

    others = [row for row in rows if row.name != baseline]
    with plots.figure(path, (11, 4.2), ncols=2) as (figure, (scatter, bars)):
        for row in rows:
            scatter.scatter(row.kl_to_sft, row.reward_mean, s=40)
            scatter.annotate(row.name, (row.kl_to_sft, row.reward_mean), xytext=(4, 4), textcoords="offset points")
        scatter.set_xlabel("KL to SFT (nats per answer, sampled)")
        scatter.set_ylabel("mean reward (greedy answers)")
        scatter.set_title("reward against drift from SFT")
        names = [row.name for row in others]
        bottom = [0] * len(others)
        for key, colour in (("good", "tab:green"), ("same", "tab:gray"), ("bad", "tab:red")):
            counts = [getattr(row, key) for row in others]
            label = {"good": "wins", "same": "ties", "bad": "losses"}[key]
            bars.bar(range(len(others)), counts, bottom=bottom, color=colour, label=label)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        bars.set_xticks(range(len(others)), names)
        bars.set_ylabel("held-out prompts")
        bars.set_title("against SFT (reward-model judge, both orders)")
        plots.legend_beside(bars)


def write_outputs(
    rows: list[MethodRow],
    held_out: HeldOutPrompts,
    answers: dict,
    baseline: str,
    exam_scoring: str,
    output_dir: str | Path,
) -> dict:
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    report = {
        "num_prompts": len(held_out.ids),
        "prompts_excluded": held_out.excluded,
        "methods": {row.name: asdict(row) for row in rows},
        "worse_than_sft": [row.name for row in rows if row.name != baseline and row.reward_vs_sft < 0],
    }
    (output / "alignment.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    table = markdown_table(rows, held_out, exam_scoring)
    (output / "alignment.md").write_text("## Alignment methods against SFT\n\n" + table, encoding="utf-8")
    with open(output / "answers.jsonl", "w", encoding="utf-8") as file:
        for name, result in answers.items():
            for item_id, answer, reward, kl in zip(
                held_out.ids, result.answers, result.rewards, result.kl, strict=True
            ):
                row = {"method": name, "id": item_id, "answer": answer, "reward": reward, "kl": kl}
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
    plot_methods(rows, baseline, output / "alignment.png")
    return report
