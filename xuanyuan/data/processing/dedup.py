"""MinHash near-duplicate removal on datatrove: signatures → LSH buckets → verified pairs → connected
components → keep one document per component, globally across all shards.

Signatures, bucket matching and the final filter are datatrove's blocks; two things are ours:
- `CharTokenizer`: shingles are character n-grams (whitespace dropped) of datatrove's simplified text with
  numbers kept. datatrove's `language="zh"` tokenizer does not segment Chinese, and its default
  normalisation maps every digit to 0, which would merge finance reports that differ only in their figures.
- `VerifiedMinhashCluster` replaces datatrove's clustering step: datatrove unions every pair that collides in
  one LSH band, and a band collision also happens for pairs well below the threshold. Here each candidate
  pair is first checked with the Jaccard estimate of its full signatures (share of equal MinHash values) and
  only pairs at or above the threshold are joined. Each component keeps its first document (lowest
  task, then position), so the choice does not depend on the order pairs were found.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import SENTINEL, MinhashConfig, MinhashDedupSignature
from datatrove.utils.hashing import HashConfig
from datatrove.utils.text import TextNormConfig, simplify_text
from datatrove.utils.word_tokenizers import WordTokenizer


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
    verify_pairs: bool = field(
        default=True, metadata={"help": "Check each LSH candidate pair with its full-signature Jaccard estimate."}
    )

    def minhash_config(self) -> MinhashConfig:
        return MinhashConfig(
            n_grams=self.ngram_size,
            num_buckets=self.num_bands,
            hashes_per_bucket=self.rows_per_band,
            seed=self.minhash_seed,
            norm_config=TextNormConfig(norm_numbers=False),
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


def shingles(text: str, config: DedupConfig) -> set[str]:
    """The exact shingle set MinHash estimates Jaccard over (reference for tests and benchmarks)."""
    chars = CharTokenizer().word_tokenize(simplify_text(text, config.minhash_config().norm_config))
    n = config.ngram_size
    return {"".join(chars[i : i + n]) for i in range(len(chars) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def signature_step(config: DedupConfig, folder: DataFolderLike) -> MinhashDedupSignature:
    return MinhashDedupSignature(output_folder=folder, config=config.minhash_config(), language=CharTokenizer())


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
    ):
        super().__init__()
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

    def load_signatures(self, nodes: set[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
        """Full signatures (num_bands × rows_per_band values) of the given (task, position) documents."""
        rows = self.config.rows_per_band
        dtype = np.dtype([("sig", "<u8", (rows,)), ("doc", "<u4")])
        by_task = defaultdict(list)
        for task, doc in nodes:
            by_task[task].append(doc)
        signatures = {}
        for task, docs in by_task.items():
            wanted = np.array(sorted(docs), dtype=np.uint32)
            matrix = np.zeros((len(wanted), self.config.num_bands * rows), dtype=np.uint64)
            for band in range(self.config.num_bands):
                with self.signatures_folder.open(f"bucket_{band:03d}/{task:05d}.minhash.sig", "rb") as handle:
                    records = np.frombuffer(handle.read(), dtype=dtype)
                records = records[np.isin(records["doc"], wanted)]
                matrix[np.searchsorted(wanted, records["doc"]), band * rows : (band + 1) * rows] = records["sig"]
            signatures.update({(task, int(doc)): matrix[i] for i, doc in enumerate(wanted)})
        return signatures

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        assert world_size == 1, "clustering runs as a single task"
        with self.track_time():
            pairs = sorted(self.candidate_pairs())
            self.stat_update("candidate_pairs", value=len(pairs))
            if self.config.verify_pairs and pairs:
                signatures = self.load_signatures({node for pair in pairs for node in pair})
                pairs = [
                    (a, b) for a, b in pairs if np.mean(signatures[a] == signatures[b]) >= self.config.dedup_threshold
                ]
            self.stat_update("verified_pairs", value=len(pairs))

            parent: dict[tuple[int, int], tuple[int, int]] = {}

            def find(node):
                parent.setdefault(node, node)
                while parent[node] != node:
                    parent[node] = parent[parent[node]]
                    node = parent[node]
                return node

            for a, b in pairs:
                root_a, root_b = find(a), find(b)
                if root_a != root_b:  # the smaller node stays root: each component keeps its first document
                    parent[max(root_a, root_b)] = min(root_a, root_b)

            to_remove = defaultdict(list)
            for node in sorted(parent):
                if find(node) != node:
                    to_remove[node[0]].append(node[1])
            self.stat_update("components", value=sum(1 for node in parent if find(node) == node))
            for task, docs in sorted(to_remove.items()):
                self.stat_update("documents_to_remove", value=len(docs))
                with self.output_folder.open(f"{task:06d}.remove", "wb") as handle:
                    handle.write(struct.pack(f"<{len(docs)}I", *sorted(docs)))
