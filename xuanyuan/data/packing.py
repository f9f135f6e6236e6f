"""Bucketed packing: documents become fixed-length training sequences of a few bucket lengths.

XuanYuan3's "bucket pre-training": instead of one context length, sequences come in a few lengths
(2k/4k/8k/16k for real runs), so a long document lands whole in a long sequence while short ones
are concatenated into short sequences; almost no token is padding and few documents are cut.

The plan is best-fit decreasing over document lengths: pieces (documents, or the chunks of a
document longer than the largest bucket, cut at that length) are placed longest first into the open
sequence with the least room that still holds them; when none does, a new sequence is opened. Rows are
made as short as they can be, since attention's cost per token grows with the row's length: every bucket
below the largest first keeps the sequences of its length that come out at least `min_utilization` full;
the remaining pieces fill sequences of the largest bucket (short documents placed last fill the gaps long ones left),
each then shrunk to the smallest bucket that holds it. To reach `min_utilization` overall, the most
padded sequences are emptied and their pieces re-wrapped at the largest bucket, which cuts documents:
the split share is reported in `PackingStats`. Domains are packed apart, so every sequence belongs to
one domain and the loss of a sequence is the loss of its domain.

Attention across documents (`document_attention`):
- `"concat"` (default, as the XuanYuan reports): documents are simply concatenated; a token attends to
  the earlier documents of its sequence. Fastest kernels: no attention mask is passed, since padding
  only ever follows a row's real tokens and causal attention never looks ahead (padding carries no
  label), so attention is plain causal. The reports found no harm; but a document's first tokens are
  predicted with unrelated context.
- `"isolated"`: position ids restart at every document and no attention mask is passed, so transformers
  builds a block-diagonal causal mask (padding-free packing, the same as TRL's); each document is seen
  exactly as if alone, and the first token of each document is not a training target. Costs a
  materialised mask under sdpa/eager (flash-attention varlen kernels avoid it).

Hand-written because TRL's `pack_dataset` packs to a single length (bfd / bfd_split / wrapped): it has
no several bucket lengths, no per-domain packing, and materialises every packed row; here the plan is
a few integers per piece and sequences are assembled from a flat token pool on access.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

DOCUMENT_ATTENTION_MODES = ("concat", "isolated")


@dataclass
class PackedSequence:
    """One training sequence: its bucket length and its pieces `(document, start, end)` in order."""

    length: int
    pieces: list[tuple[int, int, int]] = field(default_factory=list)
    domain: str | None = None

    @property
    def num_real_tokens(self) -> int:
        return sum(end - start for _, start, end in self.pieces)


@dataclass
class PackingStats:
    num_documents: int
    num_split_documents: int
    num_sequences: int
    real_tokens: int
    total_tokens: int  # real + padding
    sequences_per_bucket: dict[int, int]

    @property
    def utilization(self) -> float:
        """Share of non-pad tokens."""
        return self.real_tokens / max(self.total_tokens, 1)

    @property
    def split_share(self) -> float:
        """Share of documents cut across two or more sequences."""
        return self.num_split_documents / max(self.num_documents, 1)

    def to_dict(self) -> dict:
        """The counts, then the two shares, then the sequences per bucket (keys as strings, for JSON)."""
        counts = asdict(self)
        per_bucket = counts.pop("sequences_per_bucket")
        return {
            **counts,
            "utilization": self.utilization,
            "split_share": self.split_share,
            "sequences_per_bucket": {str(k): v for k, v in sorted(per_bucket.items())},
        }


def check_bucket_lengths(bucket_lengths: Sequence[int]) -> list[int]:
    buckets = sorted(set(int(b) for b in bucket_lengths))
    if not buckets or buckets[0] < 2:
        raise ValueError(f"bucket_lengths must be integers >= 2, got {list(bucket_lengths)}")
    return buckets


def plan_bucket_packing(
    lengths: Sequence[int],
    bucket_lengths: Sequence[int],
    min_utilization: float = 0.99,
    domain: str | None = None,
    documents: Sequence[int] | None = None,
) -> list[PackedSequence]:
    """Plan placing documents of the given token `lengths` into sequences of the bucket lengths.

    1. Short rows first: for each bucket but the largest, ascending, best fit decreasing places the pieces
       that fit into sequences of that bucket; the sequences at least `min_utilization` full are kept, the
       others' pieces go on to the next bucket.
    2. The rest: best fit decreasing into sequences of the largest bucket, each shrunk to the smallest bucket
       that holds its tokens.
    3. While the padding share exceeds `1 - min_utilization`, the sequences with the most padding are
       emptied and their pieces concatenated and cut at the largest bucket (each cut splits a document).
    `min_utilization=0` sets no target: step 2 alone. `documents` (default `range(len(lengths))`) are the
    ids written into the pieces.
    """
    buckets = check_bucket_lengths(bucket_lengths)
    largest = buckets[-1]
    documents = range(len(lengths)) if documents is None else documents
    pieces = []  # (length, document, start)
    for doc, length in zip(documents, lengths, strict=True):
        for start in range(0, length, largest):
            pieces.append((min(largest, length - start), doc, start))
    pieces.sort(key=lambda piece: -piece[0])  # stable: ties keep document order

    short: list[PackedSequence] = []
    for bucket in buckets[:-1] if min_utilization > 0 else []:
        full = [
            s
            for s in _best_fit_decreasing([p for p in pieces if p[0] <= bucket], bucket, domain)
            if s.num_real_tokens >= min_utilization * bucket
        ]
        placed = {(doc, start) for s in full for doc, start, _ in s.pieces}
        pieces = [p for p in pieces if (p[1], p[2]) not in placed]
        short += full
    sequences = _best_fit_decreasing(pieces, largest, domain)
    for sequence in sequences:
        sequence.length = smallest_bucket(buckets, sequence.num_real_tokens)
    return _rewrap_most_padded(short + sequences, buckets, min_utilization, domain)


def _best_fit_decreasing(
    pieces: Sequence[tuple[int, int, int]], capacity: int, domain: str | None
) -> list[PackedSequence]:
    """Pieces `(length, document, start)`, longest first, each into the open sequence with the least room that
    holds it, else into a new sequence of `capacity` tokens."""
    sequences: list[PackedSequence] = []
    room: list[tuple[int, int]] = []  # sorted (free tokens, sequence index) of sequences with free room
    for size, doc, start in pieces:
        slot = bisect.bisect_left(room, (size, -1))
        if slot < len(room):
            free, index = room.pop(slot)
        else:
            index, free = len(sequences), capacity
            sequences.append(PackedSequence(capacity, domain=domain))
        sequences[index].pieces.append((doc, start, start + size))
        if free - size > 0:
            bisect.insort(room, (free - size, index))
    return sequences


def smallest_bucket(buckets: Sequence[int], num_tokens: int) -> int:
    return buckets[bisect.bisect_left(buckets, num_tokens)]


def _rewrap_most_padded(
    sequences: list[PackedSequence], buckets: list[int], min_utilization: float, domain: str | None
) -> list[PackedSequence]:
    real = sum(s.num_real_tokens for s in sequences)
    allowed_padding = real * (1 - min_utilization) / min_utilization if min_utilization > 0 else float("inf")
    kept_padding = sum(s.length - s.num_real_tokens for s in sequences)
    by_padding = sorted(range(len(sequences)), key=lambda i: sequences[i].num_real_tokens - sequences[i].length)
    emptied, stream_tokens, tail_padding = [], 0, 0
    for index in by_padding:
        if kept_padding + tail_padding <= allowed_padding:
            break
        emptied.append(index)
        kept_padding -= sequences[index].length - sequences[index].num_real_tokens
        stream_tokens += sequences[index].num_real_tokens
        tail = stream_tokens % buckets[-1]
        tail_padding = smallest_bucket(buckets, tail) - tail if tail else 0
    if not emptied:
        return sequences
    stream = [piece for i in sorted(emptied) for piece in sequences[i].pieces]
    wrapped, current, fill = [], [], 0
    for doc, start, end in stream:
        while start < end:
            take = min(end - start, buckets[-1] - fill)
            current.append((doc, start, start + take))
            start, fill = start + take, fill + take
            if fill == buckets[-1]:
                wrapped.append(PackedSequence(buckets[-1], current, domain))
                current, fill = [], 0
    if current:
        wrapped.append(PackedSequence(smallest_bucket(buckets, fill), current, domain))
    keep = set(range(len(sequences))) - set(emptied)
    return [sequences[i] for i in sorted(keep)] + wrapped


def pack_by_domain(
    lengths: Sequence[int], domains: Sequence[str], bucket_lengths: Sequence[int], min_utilization: float = 0.99
) -> list[PackedSequence]:
    """`plan_bucket_packing` run separately for each domain (domains in sorted order)."""
    by_domain: dict[str, list[int]] = {}
    for doc, domain in enumerate(domains):
        by_domain.setdefault(domain, []).append(doc)
    sequences = []
    for domain in sorted(by_domain):
        docs = by_domain[domain]
        sequences += plan_bucket_packing([lengths[d] for d in docs], bucket_lengths, min_utilization, domain, docs)
    return sequences


def packing_stats(lengths: Sequence[int], sequences: Sequence[PackedSequence]) -> PackingStats:
    pieces_per_doc = Counter(doc for sequence in sequences for doc, _, _ in sequence.pieces)
    return PackingStats(
        num_documents=len(lengths),
        num_split_documents=sum(count > 1 for count in pieces_per_doc.values()),
        num_sequences=len(sequences),
        real_tokens=sum(s.num_real_tokens for s in sequences),
        total_tokens=sum(s.length for s in sequences),
        sequences_per_bucket=dict(Counter(s.length for s in sequences)),
    )


def tokenize_documents(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of `<s> text </s>` for every text (BOS from the tokenizer's post-processor, EOS appended)."""
    encoded = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    out = []
    for ids in encoded:
        if bos is not None and (not ids or ids[0] != bos):
            ids = [bos] + ids
        out.append(ids + [eos] if eos is not None else ids)
    return out


class TokenPool:
    """All documents' token ids in one flat int32 array with offsets (compact; slices are views)."""

    def __init__(self, documents: Sequence[Sequence[int]]):
        self.lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.tokens = np.fromiter((t for d in documents for t in d), dtype=np.int32, count=int(self.offsets[-1]))

    def __len__(self) -> int:
        return len(self.lengths)

    def slice(self, doc: int, start: int, end: int) -> np.ndarray:
        base = self.offsets[doc]
        return self.tokens[base + start : base + end]


class PackedDataset(torch.utils.data.Dataset):
    """Training rows assembled on access from a `TokenPool` and a packing plan.

    A row is `input_ids` of exactly its bucket length (padded with `pad_token_id` only inside its own
    sequence), `piece_lengths` (token counts of its pieces, in order), `domain` and `num_real_tokens`.
    """

    def __init__(self, pool: TokenPool, sequences: Sequence[PackedSequence], pad_token_id: int):
        self.pool, self.sequences, self.pad_token_id = pool, list(sequences), pad_token_id
        self.domain_names = sorted({s.domain for s in self.sequences if s.domain is not None})
        self._domain_index = {name: i for i, name in enumerate(self.domain_names)}

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict:
        sequence = self.sequences[index]
        ids = np.full(sequence.length, self.pad_token_id, dtype=np.int64)
        cursor, piece_lengths = 0, []
        for doc, start, end in sequence.pieces:
            ids[cursor : cursor + end - start] = self.pool.slice(doc, start, end)
            cursor += end - start
            piece_lengths.append(end - start)
        return {
            "input_ids": ids,
            "piece_lengths": piece_lengths,
            "num_real_tokens": cursor,
            "domain": self._domain_index.get(sequence.domain, -1),
        }


@dataclass
class PackedCollator:
    """Stacks packed rows of one bucket into a batch; never pads (rows of different lengths are an error).

    Output: `input_ids`, `labels` (-100 on padding; in `"isolated"` mode also on every piece's first
    token), restarting `position_ids` in `"isolated"` mode (no attention mask in either), and, for the
    trainer's bookkeeping, `domain_ids` and `num_real_tokens` per row.
    """

    document_attention: str = "concat"

    def __post_init__(self):
        if self.document_attention not in DOCUMENT_ATTENTION_MODES:
            raise ValueError(f"document_attention must be one of {DOCUMENT_ATTENTION_MODES}")

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        lengths = {len(row["input_ids"]) for row in rows}
        if len(lengths) != 1:
            raise ValueError(f"a batch must come from one bucket, got sequence lengths {sorted(lengths)}")
        input_ids = torch.as_tensor(np.stack([row["input_ids"] for row in rows]), dtype=torch.long)
        real = torch.tensor([row["num_real_tokens"] for row in rows])
        is_real = torch.arange(input_ids.shape[1]) < real[:, None]
        labels = input_ids.masked_fill(~is_real, -100)
        batch = {"input_ids": input_ids, "labels": labels}
        if self.document_attention == "isolated":
            position_ids = torch.zeros_like(input_ids)
            for row_index, row in enumerate(rows):
                cursor = 0
                pad = input_ids.shape[1] - row["num_real_tokens"]
                for size in list(row["piece_lengths"]) + ([pad] if pad else []):
                    position_ids[row_index, cursor : cursor + size] = torch.arange(size)
                    labels[row_index, cursor] = -100
                    cursor += size
            batch["position_ids"] = position_ids
        batch["domain_ids"] = torch.tensor([row["domain"] for row in rows])
        batch["num_real_tokens"] = real
        return batch


def pack_corpus(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    domains: Sequence[str],
    bucket_lengths: Sequence[int],
    min_utilization: float = 0.99,
) -> tuple[PackedDataset, PackingStats]:
    """Tokenize, plan per domain and wrap as a `PackedDataset`; also returns the plan's statistics."""
    pool = TokenPool(tokenize_documents(tokenizer, texts))
    sequences = pack_by_domain(pool.lengths.tolist(), domains, bucket_lengths, min_utilization)
    return PackedDataset(pool, sequences, tokenizer.pad_token_id), packing_stats(pool.lengths.tolist(), sequences)
