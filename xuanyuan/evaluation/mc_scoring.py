"""Scoring multiple-choice requests: the fast prefix-cached scorer and the straightforward reference.

Formulations (`scores` has one value per option A-D; the prediction is its argmax, probabilities its softmax):
- `letter` (the official C-Eval/CMMLU protocol): the log-probability of each answer letter after the prompt.
  With one-token letters (the plain official prompts) this is the letter's next-token logit minus a constant
  shared by the four, so argmax and softmax equal the official "softmax over the four letter logits". A letter
  that is several tokens (` B` after XuanYuan's chat template) is scored by the sum over its tokens.
- `cloze` (OLMES / lm-eval "cloze formulation"): each option's text scored as the continuation of the
  question by its log-likelihood divided by its length in characters (OLMES' per-character normalization,
  which does not depend on the tokenizer).
- `blank` (fill-in-the-blank questions; see mc_prompts): the option's text and the rest of the question after
  the blank scored as the continuation of the question up to the blank, normalized per character like cloze.

Fast path: every question of a subject starts with the same header and k shots. Their tokens (the longest
common token prefix of the subject's contexts, found on the token ids so it is exact whatever the tokenizer
merges at the boundary) are run once; each batch gets a new cache holding the prefix's keys and values repeated
along the batch (the prefix's own tensors are never copied whole or written to), and only the questions' own
tokens are run on top of it, batched and padded left or right (explicit position ids keep left padding exact).
The reference runs every full sequence alone, with no padding and no cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import DynamicCache, PreTrainedModel

from ..utils.padding import PADDING_SIDES, pad, position_ids
from .mc_requests import MCRequest


def input_device(model: PreTrainedModel) -> torch.device:
    return model.get_input_embeddings().weight.device


def common_prefix_length(sequences: list[list[int]]) -> int:
    """Length of the longest common prefix, leaving every sequence at least one token of its own."""
    limit = min(len(s) for s in sequences) - 1
    first = sequences[0]
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


@torch.no_grad()
def encode_prefix(model: PreTrainedModel, prefix: list[int]):
    """The KV cache of `prefix` (batch of one), or None for an empty prefix."""
    if not prefix:
        return None
    ids = torch.tensor([prefix], device=input_device(model))
    return model(input_ids=ids, use_cache=True).past_key_values


@torch.no_grad()
def forward_on_prefix(
    model: PreTrainedModel, cache, prefix_length: int, rows: list[list[int]], padding_side: str, pad_token_id: int
) -> tuple[torch.Tensor, list[int]]:
    """fp32 logits (batch, width, vocab) of `rows` run after the cached prefix, and where each row starts."""
    device = input_device(model)
    input_ids, row_mask = pad(rows, pad_token_id, padding_side)
    attention_mask = torch.cat([torch.ones(len(rows), prefix_length, dtype=torch.long), row_mask], dim=1)
    starts = [0 if padding_side == "right" else input_ids.shape[1] - len(row) for row in rows]
    past = None
    if cache is not None:
        past = DynamicCache(
            [
                (layer.keys.repeat_interleave(len(rows), 0), layer.values.repeat_interleave(len(rows), 0))
                for layer in cache.layers
            ],
            config=model.config,
        )
    logits = model(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        position_ids=(prefix_length + position_ids(row_mask)).to(device),
        past_key_values=past,
        use_cache=cache is not None,
    ).logits
    return logits.float(), starts


def continuation_logprob(logits: torch.Tensor, start: int, context_length: int, continuation: list[int]) -> float:
    """Sum of log-probabilities of `continuation` read after `context_length` tokens of this row's input.

    `logits` (width, vocab) belong to a row whose input begins at `start`; the context's last token sits at
    `start + context_length - 1` and predicts the first continuation token.
    """
    first = start + context_length - 1
    logprobs = F.log_softmax(logits[first : first + len(continuation)], dim=-1)
    target = torch.tensor(continuation, device=logits.device)
    return logprobs.gather(-1, target[:, None]).sum().item()


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def option_rows(request: MCRequest, context: list[int]) -> tuple[list[list[int]], list[int]]:
    """Distinct inputs `context + continuation[:-1]` of the four options, and each option's input index.

    One-token continuations (letters) all share the bare context: one row instead of four.
    """
    rows: list[list[int]] = []
    index = []
    for cont in request.continuation_ids:
        row = context + cont[:-1]
        if row not in rows:
            rows.append(row)
        index.append(rows.index(row))
    return rows, index


def normalize(request: MCRequest, option: int, logprob: float, scoring: str) -> float:
    return logprob if scoring == "letter" else logprob / request.continuation_chars[option]


@torch.no_grad()
def score_cached(
    model: PreTrainedModel,
    requests: list[MCRequest],
    scoring: str = "letter",
    batch_size: int = 8,
    padding_side: str = "right",
    pad_token_id: int = 0,
    desc: str | None = None,
) -> torch.Tensor:
    """(num_requests, 4) scores in request order, by the prefix-cached batched path (`batch_size` questions)."""
    if padding_side not in PADDING_SIDES:  # before any work, not at the first batch
        raise ValueError(f"padding side must be one of {PADDING_SIDES}, got {padding_side!r}")
    scores = torch.empty(len(requests), 4)
    order = sorted(range(len(requests)), key=lambda i: requests[i].num_shots)  # shots dropped -> own prefix
    progress = tqdm(total=len(requests), desc=desc, leave=False, disable=desc is None)
    for _, group in groupby(order, key=lambda i: requests[i].num_shots):
        group = list(group)
        prefix_length = common_prefix_length([requests[i].context_ids for i in group])
        cache = encode_prefix(model, requests[group[0]].context_ids[:prefix_length])
        for batch in _batches(group, batch_size):
            rows, where = [], []
            for i in batch:
                context = requests[i].context_ids[prefix_length:]
                own_rows, index = option_rows(requests[i], context)
                where.append((i, len(context), [len(rows) + k for k in index]))
                rows.extend(own_rows)
            logits, starts = forward_on_prefix(model, cache, prefix_length, rows, padding_side, pad_token_id)
            for i, context_length, row_of_option in where:
                for option, row in enumerate(row_of_option):
                    cont = requests[i].continuation_ids[option]
                    logprob = continuation_logprob(logits[row], starts[row], context_length, cont)
                    scores[i, option] = normalize(requests[i], option, logprob, scoring)
            progress.update(len(batch))
    progress.close()
    return scores


@torch.no_grad()
def score_reference(model: PreTrainedModel, requests: list[MCRequest], scoring: str = "letter") -> torch.Tensor:
    """(num_requests, 4) scores by the straightforward path: each full sequence alone, no cache, no padding."""
    device = input_device(model)
    scores = torch.empty(len(requests), 4)
    for i, request in enumerate(requests):
        rows, index = option_rows(request, request.context_ids)
        logits = [model(input_ids=torch.tensor([row], device=device)).logits[0].float() for row in rows]
        for option, cont in enumerate(request.continuation_ids):
            logprob = continuation_logprob(logits[index[option]], 0, len(request.context_ids), cont)
            scores[i, option] = normalize(request, option, logprob, scoring)
    return scores
