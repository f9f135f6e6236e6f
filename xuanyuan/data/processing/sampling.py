"""Domain sampling: per-domain rates that shape the pretraining mixture.

A rate r keeps floor(r) copies of every document of that domain plus one more with probability r - floor(r).
The coin is a hash of (seed, document id), not a random generator, so the choice is the same on every
re-run and for any number of workers. Repetitions get ids `<id>#rep<k>`.
"""

from __future__ import annotations

import hashlib
import json
import math
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter


@dataclass
class SamplingConfig:
    """Stage 6, domain sampling."""

    domain_sampling: bool = field(default=False, metadata={"help": "Run the domain-sampling stage."})
    domain_rates: str | None = field(
        default=None,
        metadata={
            "help": "Mapping domain -> rate (YAML mapping, or JSON on the command line); <1 downsamples, >1 repeats."
        },
    )
    default_rate: float = field(default=1.0, metadata={"help": "Rate for domains not listed."})
    sampling_seed: int = field(default=0, metadata={"help": "Seed of the deterministic sampling hash."})

    def __post_init__(self):
        if isinstance(self.domain_rates, str):
            self.domain_rates = json.loads(self.domain_rates)
        for domain, rate in {**(self.domain_rates or {}), "(default)": self.default_rate}.items():
            if not isinstance(rate, int | float) or rate < 0:
                raise ValueError(f"domain_rates[{domain!r}] must be a non-negative number, got {rate!r}")


def unit_hash(seed: int, key: str) -> float:
    """A deterministic number in [0, 1) for (seed, key)."""
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def copies_for(rate: float, seed: int, key: str) -> int:
    """How many copies of the document `key` a rate keeps: floor(rate), plus one with chance frac(rate)."""
    whole = math.floor(rate)
    return whole + (1 if unit_hash(seed, key) < rate - whole else 0)


class DomainSampler(PipelineStep):
    type = "🎲 - SAMPLER"
    name = "⚖️ Domain sampling"

    def __init__(self, config: SamplingConfig, exclusion_writer: DiskWriter | None = None):
        super().__init__()
        self.config, self.exclusion_writer = config, exclusion_writer

    def rate(self, domain: str) -> float:
        return (self.config.domain_rates or {}).get(domain, self.config.default_rate)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.exclusion_writer if self.exclusion_writer else nullcontext() as writer:
            for doc in data:
                domain = doc.metadata.get("domain", "")
                copies = copies_for(self.rate(domain), self.config.sampling_seed, doc.id)
                self.stat_update(f"copies_{domain}", value=copies)
                if copies == 0:
                    doc.metadata["filter_reason"] = "downsampled"
                    if writer:
                        writer.write(doc, rank)
                    continue
                yield doc
                for k in range(1, copies):
                    yield replace(doc, id=f"{doc.id}#rep{k}", metadata={**doc.metadata, "repeat": k})
