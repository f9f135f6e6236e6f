"""Best-of-N (rejection sampling): K sampled answers per prompt, each scored by the reward model; the best is kept.

The best answer to a prompt becomes an SFT record (`{id, category, messages, reward}`, read by
`xuanyuan.data.sft_data`) and the best against the worst a preference pair (`{id, category, prompt, chosen,
rejected}`, read by `xuanyuan.data.preferences`): the data of rejection-sampling fine-tuning (RAFT,
`recipes/raft.py`). Sampling and scoring are `ppo.rollout.sample_and_score`, so the reward model reads each prompt
+ answer ending at its EOS exactly as it was trained. Only a complete answer is a candidate: one that ended with
the EOS within `max_new_tokens` and says something; a cut-off answer trained on as if it were finished would teach
the model to stop mid-sentence.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..utils.padding import pad
from .ppo.data import EncodedPrompt
from .ppo.rollout import sample_and_score


@dataclass(frozen=True)
class Candidate:
    text: str  # decoded without special tokens
    score: float  # the reward model's, on prompt + answer
    complete: bool  # ended with the EOS and is not empty


def best_and_worst(scores: Sequence[float], usable: Sequence[bool]) -> tuple[int, int] | None:
    """Indices of the highest and of the lowest score among the usable candidates, the first index on a tie;
    None when none is usable."""
    indices = [index for index, ok in enumerate(usable) if ok]
    if not indices:
        return None
    return max(indices, key=scores.__getitem__), min(indices, key=scores.__getitem__)


@torch.no_grad()
def sample_candidates(
    policy, reward_model, tokenizer, prompt_ids: list[list[int]], num_samples: int, max_new_tokens: int,
    batch_size: int, cache_implementation: str | None = "static",
) -> list[list[Candidate]]:  # fmt: skip
    """`num_samples` answers to each prompt, sampled with the policy's generation config and scored. The default
    static KV cache is allocated once; transformers' growing one took 15-40% longer here (128 rows, 96 new tokens,
    2 CPU cores)."""
    eos, generation = tokenizer.eos_token_id, {"do_sample": True, "num_return_sequences": num_samples,
                                              "max_new_tokens": max_new_tokens,
                                              "cache_implementation": cache_implementation}  # fmt: skip
    candidates = []
    for start in tqdm(range(0, len(prompt_ids), batch_size), desc="best-of-n: sampling + scoring"):
        ids, mask = pad(prompt_ids[start : start + batch_size], tokenizer.pad_token_id, side="left")
        samples = sample_and_score(
            policy, reward_model, ids, mask, generation, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
        )
        responses = samples.input_ids[:, ids.shape[1] :]
        ended = ((responses == eos) & samples.action_mask.bool()).any(dim=1).tolist()
        texts = [text.strip() for text in tokenizer.batch_decode(responses, skip_special_tokens=True)]
        rows = [Candidate(t, s, e and bool(t)) for t, s, e in zip(texts, samples.scores.tolist(), ended, strict=True)]
        candidates += [rows[i : i + num_samples] for i in range(0, len(rows), num_samples)]
    return candidates


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


@dataclass
class BestOfN:
    sft: list[dict]  # the kept best answers as SFT records
    pairs: list[dict]  # best vs worst complete answer, where they differ
    summary: dict


def best_of_n_records(
    prompts: list[EncodedPrompt], candidates: list[list[Candidate]], min_reward: float | None = None
) -> BestOfN:
    """The best complete answer of every prompt as an SFT record, unless its score is not above `min_reward`;
    best vs worst as a preference pair for every prompt with two different complete answers."""
    sft, pairs, best_scores, dropped = [], [], [], Counter()
    for item, answers in zip(prompts, candidates, strict=True):
        chosen = best_and_worst([a.score for a in answers], [a.complete for a in answers])
        if chosen is None:
            dropped["no_complete_answer"] += 1
            continue
        best, worst = answers[chosen[0]], answers[chosen[1]]
        prompt, messages = item.prompt, item.messages
        best_scores.append(best.score)
        labels = {"id": prompt.id, "category": prompt.category}
        if best.text != worst.text and best.score > worst.score:
            pairs.append(labels | {"prompt": messages, "chosen": best.text, "rejected": worst.text,
                                   "chosen_reward": best.score, "rejected_reward": worst.score})  # fmt: skip
        if min_reward is not None and best.score <= min_reward:
            dropped["not_above_min_reward"] += 1
            continue
        reply = {"role": "assistant", "content": best.text}
        sft.append(labels | {"messages": [*messages, reply], "reward": best.score})
    answers = [answer for row in candidates for answer in row]
    summary = {
        "prompts": len(prompts),
        "num_samples": len(candidates[0]) if candidates else 0,
        "samples": len(answers),
        "complete_share": _mean([float(answer.complete) for answer in answers]),
        "reward_mean_samples": _mean([answer.score for answer in answers]),
        "reward_mean_best": _mean(best_scores),
        "kept": len(sft),
        "reward_mean_kept": _mean([record["reward"] for record in sft]),
        "pairs": len(pairs),
        "dropped": dict(dropped),
        "min_reward": min_reward,
    }
    return BestOfN(sft, pairs, summary)
