"""MinHash near-duplicate removal on datatrove: signatures → LSH buckets → verified pairs → connected
components → keep one document per component, globally across all shards.

Bucket matching and the final filter are datatrove's blocks; the rest is ours:
- `CharTokenizer`: shingles are character n-grams (whitespace dropped) of datatrove's simplified text with
  numbers kept. datatrove's `language="zh"` tokenizer does not segment Chinese, and its default
  normalization maps every digit to 0, which would merge finance reports that differ only in their figures.
- `CharMinhashSignature` writes exactly the signature files datatrove's `MinhashDedupSignature` writes with
  `CharTokenizer` (same hashes, same sorted records: a test compares the bytes), faster: n-grams are slices
  of one string instead of joined tuples, and the permutations run for a batch of documents in one numpy
  pass with the Mersenne-prime modulus done by shifts instead of numpy's slow 64-bit `%`.
- `BandGroupBuckets` is datatrove's bucket matching with several whole bands per task: datatrove needs one
  task per band (or more), and each task costs a fixed start-up (task logger, stats, completion marker)
  that dominates on a small machine. The `.dups` files are the same, whatever the grouping.
- `VerifiedMinhashCluster` replaces datatrove's clustering step: datatrove unions every pair that collides in
  one LSH band, and a band collision also happens for pairs well below the threshold. Here each candidate
  pair is first checked — by the exact Jaccard of the two documents' shingles (texts read back from the
  intermediate shards, line i = MinHash position i), or by the Jaccard estimate of their full signatures —
  and only pairs at or above the threshold are joined. The estimate has a standard deviation of about
  0.03 near 0.7 with 200 hashes, which is what costs precision near the threshold. Each component keeps
  its first document (lowest task, then position), so the choice does not depend on the order pairs were
  found.
- `near_duplicate_roots`: the same shingles, signatures, band matching, exact verification and components for a
  small batch held in memory (the synthesis filters' near-duplicate rule), without datatrove's files and tasks.
"""

from __future__ import annotations

import re
import struct
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import orjson
from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    SENTINEL,
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupSignature,
    _mersenne_prime,
)
from datatrove.utils.hashing import HashConfig
from datatrove.utils.text import TextNormConfig, simplify_text
from datatrove.utils.typeshelper import StatHints
from datatrove.utils.word_tokenizers import WordTokenizer
from xxhash import xxh64_intdigest

NORM_CONFIG = TextNormConfig(norm_numbers=False)  # datatrove's simplification, digits kept
_BEFORE_DIACRITICS = TextNormConfig(norm_numbers=False, norm_unicode_diacritics=False)
# Characters that NFD leaves alone and that are not combining marks (tests check it on this Python): a text made
# only of them passes datatrove's diacritics step unchanged, which is per-character Python otherwise.
NFD_STABLE = re.compile(r"[\x00-\x7f\u4e00-\u9fff\u3000-\u3029\u3030-\u303f\uff01-\uffdc]*")


@dataclass
class DedupConfig:
    """Stage 5, MinHash near-dedup."""

    dedup: bool = field(default=True, metadata={"help": "Run the near-dedup stage."})
    dedup_threshold: float = field(
        default=0.7, metadata={"help": "Jaccard of character n-grams to call two documents duplicates."}
    )
    ngram_size: int = field(default=5, metadata={"help": "Character n-gram (shingle) length."})
    num_bands: int = field(default=32, metadata={"help": "LSH bands (buckets); one bucket task each."})
    rows_per_band: int = field(default=6, metadata={"help": "MinHash values per band."})
    minhash_seed: int = field(default=1, metadata={"help": "Seed of the MinHash permutations."})
    bucket_tasks: int = field(
        default=0,
        metadata={
            "help": "LSH bucket-matching tasks: a divisor of num_bands (whole bands per task) or a multiple of it "
            "(hash ranges of one band, datatrove's workers per bucket). 0: the largest divisor of num_bands not "
            "above the run's `tasks`. Does not change the output."
        },
    )
    verify_pairs: str = field(
        default="exact",
        metadata={
            "help": "Check each LSH candidate pair before joining: 'exact' (shingle Jaccard of the two texts, read "
            "back from the intermediate shards), 'signature' (share of equal MinHash values; no text read, for "
            "very large corpora) or 'none' (datatrove's behaviour: any band collision joins)."
        },
    )

    def __post_init__(self):
        if self.verify_pairs not in ("exact", "signature", "none"):
            raise ValueError(f"verify_pairs must be exact, signature or none, got {self.verify_pairs!r}")
        if self.bucket_tasks and self.num_bands % self.bucket_tasks and self.bucket_tasks % self.num_bands:
            raise ValueError(
                f"bucket_tasks ({self.bucket_tasks}) must divide num_bands ({self.num_bands}) or be a multiple of it"
            )

    def bucket_task_count(self, tasks: int) -> int:
        """`bucket_tasks`, or when 0 the largest divisor of `num_bands` that is at most `tasks`."""
        if self.bucket_tasks:
            return self.bucket_tasks
        return max(d for d in range(1, min(tasks, self.num_bands) + 1) if self.num_bands % d == 0)

    def minhash_config(self) -> MinhashConfig:
        return MinhashConfig(
            n_grams=self.ngram_size,
            num_buckets=self.num_bands,
            hashes_per_bucket=self.rows_per_band,
            seed=self.minhash_seed,
            norm_config=NORM_CONFIG,
            hash_config=HashConfig(precision=64),
        )


class CharTokenizer(WordTokenizer):
    """Every non-space character is a token, so MinHash n-grams are character n-grams in any script."""

    def __init__(self):
        super().__init__("chars")

    def word_tokenize(self, text: str) -> list[str]:
        return [char for char in text if not char.isspace()]

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def shingle_string(text: str) -> str:
    """The text MinHash sees: datatrove's simplified text (numbers kept) without whitespace; one character is
    one `CharTokenizer` token (`str.split` and `str.isspace` agree on what whitespace is)."""
    simplified = simplify_text(text, _BEFORE_DIACRITICS)
    if not NFD_STABLE.fullmatch(simplified):
        simplified = simplify_text(text, NORM_CONFIG)
    return "".join(simplified.split())


def shingles(text: str, config: DedupConfig) -> set[str]:
    """The exact shingle set MinHash estimates Jaccard over (reference for tests and benchmarks)."""
    chars, n = shingle_string(text), config.ngram_size
    return {chars[i : i + n] for i in range(len(chars) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def component_roots(pairs: Iterable[tuple]) -> dict:
    """Union-find over `pairs` of sortable nodes: every node of a pair → the smallest node of its connected
    component."""
    parent = {}

    def find(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in pairs:
        root_a, root_b = find(a), find(b)
        parent[max(root_a, root_b)] = min(root_a, root_b)
    return {node: find(node) for node in parent}


def signature_dtype(config: MinhashConfig) -> np.dtype:
    """A record of a bucket's signature file: the band's hashes `h0`, `h1`, …, then the document's position `doc`."""
    hash_format = f"<{config.hash_config.struct_format}"
    return np.dtype([(f"h{i}", hash_format) for i in range(config.hashes_per_bucket)] + [("doc", "<u4")])


class CharMinhashSignature(MinhashDedupSignature):
    """datatrove's signature step with `CharTokenizer` shingles, computed faster (see module docstring)."""

    def __init__(self, output_folder: DataFolderLike, config: DedupConfig, block_shingles: int = 2048):
        super().__init__(output_folder=output_folder, config=config.minhash_config(), language=CharTokenizer())
        assert self.config.hash_config == HashConfig(precision=64), "shingles are hashed with xxh64 directly"
        self.block_shingles = block_shingles

    def get_shingles(self, text: str) -> np.ndarray:
        """Hashes of the n-grams datatrove hashes (the n tokens joined by spaces, i.e. slices of the
        space-joined characters), as datatrove's (N, 1) uint64 array."""
        spaced, width = " ".join(shingle_string(text)), 2 * self.config.n_grams - 1
        hashes = [xxh64_intdigest(spaced[i : i + width]) for i in range(0, len(spaced) - width + 1, 2)]
        return np.array(hashes, dtype=np.uint64).reshape((-1, 1))

    def get_signature(self, shingles: np.ndarray) -> np.ndarray:
        """All num_hashes MinHash values: min over shingles h of (a·h + b) mod (2^61 - 1), with a·h + b wrapping
        at 2^64 as in datatrove. Blocks of `block_shingles` rows keep the work in cache and memory bounded."""
        a, b = (param.ravel() for param in self.parameters)
        shift, result = np.uint64(61), np.full(self.num_hashes, np.iinfo(np.uint64).max, dtype=np.uint64)
        for start in range(0, len(shingles), self.block_shingles):
            values = shingles[start : start + self.block_shingles] * a
            values += b
            low = values & _mersenne_prime  # x = high·2^61 + low ≡ high + low (mod 2^61 - 1), and high < 8
            values >>= shift
            values += low
            if values.max() >= _mersenne_prime:  # one subtraction makes it canonical; almost never needed
                np.minimum(values, values - _mersenne_prime, out=values)
            np.minimum(result, values.min(axis=0), out=result)
        return result

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        """Writes each bucket file in large sorted blocks instead of one struct per document and bucket."""
        rows, bands, dtype = self.config.hashes_per_bucket, self.config.num_buckets, signature_dtype(self.config)
        paths = [f"bucket_{band:03d}/{rank:05d}.minhash.sig" for band in range(bands)]
        with self.track_time():
            files = [self.output_folder.open(path, mode="wb") for path in paths]
            signatures, doc_ids = [], []

            def flush() -> None:
                matrix, records = np.stack(signatures), np.empty(len(doc_ids), dtype=dtype)
                records["doc"] = doc_ids
                for band, handle in enumerate(files):
                    for i in range(rows):
                        records[f"h{i}"] = matrix[:, band * rows + i]
                    handle.write(records.tobytes())
                signatures.clear()
                doc_ids.clear()

            for doc_idx, doc in enumerate(data):
                self.stat_update(StatHints.total)
                shingles = self.get_shingles(doc.text)
                if shingles.size:
                    signatures.append(self.get_signature(shingles))
                    doc_ids.append(doc_idx)
                    if len(doc_ids) == 8192:
                        flush()
            if doc_ids:
                flush()
            for handle in files:
                handle.close()
            for path in paths:  # bucket matching needs each file sorted, as datatrove's step leaves it
                with self.output_folder.open(path, mode="rb") as handle:
                    records = np.frombuffer(handle.read(), dtype=dtype).copy()
                records.sort(order=dtype.names)
                with self.output_folder.open(path, mode="wb") as handle:
                    handle.write(records.tobytes())


def signature_step(config: DedupConfig, folder: DataFolderLike) -> CharMinhashSignature:
    return CharMinhashSignature(folder, config)


class BandGroupBuckets(MinhashDedupBuckets):
    """datatrove's LSH bucket matching, writing the same `.dups` files, with two changes (see module docstring):
    fewer tasks than bands (each task matches `num_bands / tasks` whole bands in turn), and each band's
    signatures are matched with one numpy sort instead of a Python heap merge. datatrove's merge streams
    the files in constant memory; this one holds a band's (or, with `tasks` a multiple of `num_bands`, a hash
    range's) records: 8·rows + 4 bytes per document, so raise `bucket_tasks` for very large corpora."""

    def __init__(self, input_folder: DataFolderLike, output_folder: DataFolderLike, config: MinhashConfig):
        super().__init__(input_folder, output_folder, config=config)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        assert data is None, "bucket matching reads signature files, not documents"
        bands = self.config.num_buckets
        with self.track_time():
            if world_size >= bands:
                assert world_size % bands == 0, f"{world_size} bucket tasks are not a multiple of {bands} bands"
                self.match(rank, world_size)
            else:
                assert bands % world_size == 0, f"{world_size} bucket tasks do not divide {bands} bands"
                per_task = bands // world_size
                for band in range(rank * per_task, (rank + 1) * per_task):
                    self.match(band, bands)

    def match(self, rank: int, world_size: int) -> None:
        """Pairs of consecutive records with equal band values, in the order datatrove's merge pops them
        (band values, then file, then document): task `rank` of `world_size` one-band-or-less tasks."""
        rows, dtype = self.config.hashes_per_bucket, signature_dtype(self.config)
        bucket, bucket_worker = divmod(rank, world_size // self.config.num_buckets)
        sig_files = self.input_folder.list_files(subdirectory=f"bucket_{bucket:03d}")
        file_tasks = np.array([int(Path(p).name.removesuffix(".minhash.sig")) for p in sig_files], dtype=np.uint32)
        hash_min, hash_max = self.get_worker_hash_range(sig_files, rank, world_size)
        parts = [np.empty(0, dtype=dtype)]
        for path in sig_files:
            with self.input_folder.open(path, "rb") as handle:
                records = np.frombuffer(handle.read(), dtype=dtype)
            first = records["h0"]
            parts.append(records[np.searchsorted(first, hash_min) : np.searchsorted(first, hash_max)])
        records = np.concatenate(parts)
        files = np.repeat(np.arange(len(sig_files), dtype=np.uint32), [len(part) for part in parts[1:]])
        order = np.lexsort([records["doc"], files] + [records[f"h{i}"] for i in reversed(range(rows))])
        records, tasks = records[order], file_tasks[files[order]]
        same = np.ones(max(len(records) - 1, 0), dtype=bool)
        for i in range(rows):
            same &= records[f"h{i}"][1:] == records[f"h{i}"][:-1]
        later = np.flatnonzero(same) + 1
        pairs = np.stack([tasks[later - 1], records["doc"][later - 1], tasks[later], records["doc"][later]], axis=1)
        self.stat_update("total_matches", value=len(pairs))
        with self.output_folder.open(f"{bucket:05d}_{bucket_worker:02d}.dups", mode="wb") as handle:
            handle.write(pairs.astype("<u4").tobytes())


class VerifiedMinhashCluster(PipelineStep):
    """Reads datatrove's `.dups` candidate pairs, keeps the verified ones, unions them and writes the
    `{task:06d}.remove` files datatrove's `MinhashDedupFilter` reads."""

    type = "🫂 - DEDUP"
    name = "🎯 MinHash verified clusters"

    def __init__(
        self,
        pairs_folder: DataFolderLike,
        signatures_folder: DataFolderLike,
        output_folder: DataFolderLike,
        config: DedupConfig,
        documents_folder: DataFolderLike | None = None,
    ):
        super().__init__()
        if config.verify_pairs == "exact" and documents_folder is None:
            raise ValueError("verify_pairs='exact' needs the folder of the shards the signatures were computed on")
        self.documents_folder = get_datafolder(documents_folder) if documents_folder else None
        self.pairs_folder = get_datafolder(pairs_folder)
        self.signatures_folder = get_datafolder(signatures_folder)
        self.output_folder = get_datafolder(output_folder)
        self.config = config

    def candidate_pairs(self) -> set[tuple[tuple[int, int], tuple[int, int]]]:
        pairs = set()
        for name in self.pairs_folder.list_files(glob_pattern="*.dups"):
            with self.pairs_folder.open(name, "rb") as handle:
                values = np.frombuffer(handle.read(), dtype="<u4").reshape(-1, 4)
            for f1, d1, f2, d2 in values.tolist():
                if f1 != SENTINEL:
                    pairs.add(tuple(sorted(((f1, d1), (f2, d2)))))
        return pairs

    def load_signatures(self, positions: dict[int, set[int]]) -> dict[tuple[int, int], np.ndarray]:
        """Full signatures (num_bands × rows_per_band values) of the documents at `positions` (task → positions)."""
        rows = self.config.rows_per_band
        dtype = np.dtype([("sig", "<u8", (rows,)), ("doc", "<u4")])
        signatures = {}
        for task, docs in positions.items():
            wanted = np.array(sorted(docs), dtype=np.uint32)
            matrix = np.zeros((len(wanted), self.config.num_bands * rows), dtype=np.uint64)
            for band in range(self.config.num_bands):
                with self.signatures_folder.open(f"bucket_{band:03d}/{task:05d}.minhash.sig", "rb") as handle:
                    records = np.frombuffer(handle.read(), dtype=dtype)
                records = records[np.isin(records["doc"], wanted)]
                matrix[np.searchsorted(wanted, records["doc"]), band * rows : (band + 1) * rows] = records["sig"]
            signatures.update({(task, int(doc)): matrix[i] for i, doc in enumerate(wanted)})
        return signatures

    def load_shingles(self, positions: dict[int, set[int]]) -> dict[tuple[int, int], set[str]]:
        """Shingle sets of the documents at `positions` (task → positions), read from `{task:05d}.jsonl`."""
        sets = {}
        for task, docs in sorted(positions.items()):
            with self.documents_folder.open(f"{task:05d}.jsonl", "rb") as handle:
                for position, line in enumerate(handle):
                    if position in docs:
                        sets[(task, position)] = shingles(orjson.loads(line)["text"], self.config)
        return sets

    def verified(self, pairs: list[tuple[tuple[int, int], tuple[int, int]]]) -> list:
        threshold, mode = self.config.dedup_threshold, self.config.verify_pairs
        positions = defaultdict(set)
        for task, position in chain.from_iterable(pairs):
            positions[task].add(position)
        if mode == "exact":
            sets = self.load_shingles(positions)
            return [(a, b) for a, b in pairs if jaccard(sets[a], sets[b]) >= threshold]
        if mode == "signature":
            signatures = self.load_signatures(positions)
            return [(a, b) for a, b in pairs if np.mean(signatures[a] == signatures[b]) >= threshold]
        return pairs

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        assert world_size == 1, "clustering runs as a single task"
        with self.track_time():
            pairs = sorted(self.candidate_pairs())
            self.stat_update("candidate_pairs", value=len(pairs))
            pairs = self.verified(pairs)
            self.stat_update("verified_pairs", value=len(pairs))

            roots = component_roots(pairs)  # each component keeps its first document, its root
            to_remove = defaultdict(list)
            for node, root in sorted(roots.items()):
                if node != root:
                    to_remove[node[0]].append(node[1])
            self.stat_update("components", value=sum(node == root for node, root in roots.items()))
            for task, docs in sorted(to_remove.items()):
                self.stat_update("documents_to_remove", value=len(docs))
                with self.output_folder.open(f"{task:06d}.remove", "wb") as handle:
                    handle.write(struct.pack(f"<{len(docs)}I", *sorted(docs)))


def near_duplicate_roots(texts: Sequence[str], config: DedupConfig) -> list[int]:
    """Near-dedup of a batch held in memory (e.g. synthesized instructions, not a corpus): for each text, the index
    of the first text of its near-duplicate component (its own index when it has none).

    The pipeline's steps on the same shingles and signatures, without files: texts that share every value of one
    LSH band are candidates, a candidate pair is joined when the exact shingle Jaccard reaches `dedup_threshold`,
    and `component_roots` makes the components. Texts with the same shingle string (too short for one shingle
    included) are joined directly, and only the first of them enters the LSH step."""
    signer = CharMinhashSignature("memory://", config)  # only its shingle hashing and signature: nothing is written
    rows, same_text, buckets = config.rows_per_band, defaultdict(list), defaultdict(list)
    for index, text in enumerate(texts):
        same_text[shingle_string(text)].append(index)
    for first, *_ in same_text.values():
        hashes = signer.get_shingles(texts[first])
        if hashes.size:
            signature = signer.get_signature(hashes)
            for band in range(config.num_bands):
                buckets[band, signature[band * rows : (band + 1) * rows].tobytes()].append(first)
    pairs = {(group[0], other) for group in same_text.values() for other in group[1:]}
    candidates = {(a, b) for members in buckets.values() for i, a in enumerate(members) for b in members[i + 1 :]}
    sets = {index: shingles(texts[index], config) for index in set(chain.from_iterable(candidates))}
    pairs |= {(a, b) for a, b in candidates if jaccard(sets[a], sets[b]) >= config.dedup_threshold}
    roots = component_roots(pairs)
    return [roots.get(index, index) for index in range(len(texts))]
