"""Wiring the stages into datatrove executors.

Five executors run in order (each waits for the previous one):

1. `filter` (`tasks` tasks): read → normalize → rule filters → perplexity → safety → intermediate shard
   + MinHash signatures;
2. `buckets` (`bucket_tasks` tasks, whole bands each by default): datatrove's LSH bucket matching → candidate
   pairs;
3. `cluster` (1 task): verified pairs → connected components → documents to remove;
4. `finalize` (`tasks` tasks): dedup filter → domain sampling → output shards;
5. `report` (1 task): stats.json + stats.md.

Layout under `output_dir`: `data/` (clean shards), `removed/<stage>/` (what each stage removed, with the
reason), `stats.json`, `stats.md`, `config.json`, `work/` (intermediate files) and `logs/<executor>/`
(datatrove's logs, per-task stats and completion markers: a re-run skips finished tasks). Output depends on
`tasks` (how work is sharded) but not on `workers`.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from datatrove.executor.base import PipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashDedupFilter

from xuanyuan.data.processing.dedup import BandGroupBuckets, DedupConfig, VerifiedMinhashCluster, signature_step
from xuanyuan.data.processing.local_executor import LocalExecutor
from xuanyuan.data.processing.meter import Metered
from xuanyuan.data.processing.normalize import NormalizeConfig, TextNormalizer
from xuanyuan.data.processing.reader import RecordReader
from xuanyuan.data.processing.rules import KeywordFilter, LineFilter, MinLengthFilter, RuleFilterConfig, read_keywords
from xuanyuan.data.processing.sampling import DomainSampler, SamplingConfig
from xuanyuan.data.processing.stats import StatsReport
from xuanyuan.data.processing.writers import AsideWriter, TaskShardReader, intermediate_writer, output_writer
from xuanyuan.data.records import resolve_sources, skips_bad_records
from xuanyuan.utils.extras import require


def _section(value: str | dict | None, name: str) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"--{name} must be a JSON object on the command line: {error}") from error
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping, got {value!r}")
    return value


@dataclass
class ProcessDataConfig:
    """Inputs, outputs and execution of the data pipeline (the stage settings are in their own dataclasses)."""

    output_dir: str = field(metadata={"help": "Where shards, set-aside documents, stats and logs go."})
    input: list[str] = field(
        default_factory=list, metadata={"help": "Input files or globs (JSONL, JSONL.gz, parquet)."}
    )
    output_format: str = field(default="jsonl.gz", metadata={"help": "jsonl.gz, jsonl or parquet."})
    on_bad_record: str = field(
        default="error",
        metadata={
            "help": "Bad records: 'error' (stop, naming file and line) or 'skip' (count, set aside in removed/read/)."
        },
    )
    default_domain: str = field(default="general", metadata={"help": "Domain of records without one."})
    min_cjk_share: float = field(
        default=0.3, metadata={"help": "Language detection: Han share of letters to call a text zh."}
    )
    tasks: int = field(default=2, metadata={"help": "Shards of work (and of output); output depends on it."})
    workers: int = field(default=2, metadata={"help": "Tasks run at once (local executor)."})
    executor: str = field(default="local", metadata={"help": "local, slurm or ray."})
    start_method: str = field(
        default="fork",
        metadata={
            "help": "Local workers: 'fork' reuses the parent's imports (importing torch per worker costs seconds)."
        },
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Delete an earlier run in output_dir with a different config."}
    )
    perplexity: str | None = field(
        default=None, metadata={"help": "PerplexityFilterConfig fields (YAML mapping, or JSON on the command line)."}
    )
    safety: str | None = field(
        default=None, metadata={"help": "SafetyFilterConfig fields (YAML mapping, or JSON on the command line)."}
    )
    slurm: str | None = field(
        default=None,
        metadata={
            "help": "Keyword arguments of datatrove's SlurmPipelineExecutor (partition, time, cpus_per_task, ...)."
        },
    )
    ray: str | None = field(default=None, metadata={"help": "Keyword arguments of datatrove's RayPipelineExecutor."})

    def __post_init__(self):
        if isinstance(self.input, str):
            self.input = [self.input]
        for name in ("perplexity", "safety", "slurm", "ray"):
            setattr(self, name, _section(getattr(self, name), name))
        skips_bad_records(self.on_bad_record)
        if self.executor not in ("local", "slurm", "ray"):
            raise ValueError(f"executor must be local, slurm or ray, got {self.executor!r}")


@dataclass
class DataPipeline:
    """All settings of one run."""

    run: ProcessDataConfig
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    rules: RuleFilterConfig = field(default_factory=RuleFilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    @property
    def out(self) -> Path:
        return Path(self.run.output_dir)

    def aside(self, stage: str, default_reason: str = "filtered") -> AsideWriter:
        return AsideWriter(str(self.out / "removed" / stage), stage, default_reason)

    def filter_stages(self) -> dict[str, PipelineStep]:
        """Stage name → block for stages 1–4, in the issue's order, only those enabled."""
        stages, rules = {}, self.rules
        if self.normalize.normalize:
            stages["normalize"] = TextNormalizer(self.normalize)
        if rules.rule_filters:
            if rules.keyword_file:
                keywords = read_keywords(rules.keyword_file)
                stages["keyword_filter"] = KeywordFilter(
                    keywords, rules.min_keyword_hits, self.aside("keyword_filter")
                )
            if rules.line_filter:
                stages["line_filter"] = LineFilter(rules, self.aside("line_filter"))
            stages["min_length"] = MinLengthFilter(rules.min_doc_chars, self.aside("min_length"))
        if self.run.perplexity.get("enabled"):
            from xuanyuan.data.processing.perplexity import PerplexityFilter, PerplexityFilterConfig

            config = PerplexityFilterConfig(**self.run.perplexity)
            stages["perplexity"] = PerplexityFilter(config, exclusion_writer=self.aside("perplexity"))
        if self.run.safety.get("enabled"):
            from xuanyuan.data.processing.safety import SafetyFilter, SafetyFilterConfig

            config = SafetyFilterConfig(**self.run.safety)
            stages["safety"] = SafetyFilter(config, exclusion_writer=self.aside("safety"))
        return stages

    def executors(self, paths: list[str]) -> list[tuple[str, list, int]]:
        """(executor name, pipeline, tasks) in run order."""
        run, filtered, minhash = self.run, str(self.out / "work" / "filtered"), self.out / "work" / "minhash"
        reader = RecordReader(
            paths,
            on_bad_record=run.on_bad_record,
            rejects_writer=self.aside("read") if skips_bad_records(run.on_bad_record) else None,
            default_domain=run.default_domain,
            min_cjk_share=run.min_cjk_share,
        )
        filter_pipeline = [reader] + [Metered(name, step) for name, step in self.filter_stages().items()]
        filter_pipeline.append(intermediate_writer(filtered))
        jobs = [("filter", filter_pipeline, run.tasks)]
        finalize = [TaskShardReader(filtered)]
        if self.dedup.dedup:
            signatures, pairs, remove = (str(minhash / kind) for kind in ("signatures", "pairs", "remove"))
            filter_pipeline.append(signature_step(self.dedup, signatures))
            buckets = BandGroupBuckets(signatures, pairs, config=self.dedup.minhash_config())
            jobs.append(("buckets", [buckets], self.dedup.bucket_task_count(run.tasks)))
            cluster = VerifiedMinhashCluster(pairs, signatures, remove, self.dedup, documents_folder=filtered)
            jobs.append(("cluster", [cluster], 1))
            dedup_filter = MinhashDedupFilter(remove, exclusion_writer=self.aside("dedup", "near_duplicate"))
            finalize.append(Metered("dedup", dedup_filter, default_reason="near_duplicate"))
        if self.sampling.domain_sampling:
            finalize.append(Metered("domain_sampling", DomainSampler(self.sampling, self.aside("domain_sampling"))))
        finalize.append(output_writer(str(self.out / "data"), run.output_format))
        jobs.append(("finalize", finalize, run.tasks))
        logging_dirs = [str(self.out / "logs" / name) for name, _, _ in jobs]
        stages = ["read"] + [step.stage for _, steps, _ in jobs for step in steps if isinstance(step, Metered)]
        cluster_name = VerifiedMinhashCluster.name if self.dedup.dedup else None
        jobs.append(("report", [StatsReport(str(self.out), logging_dirs, stages, cluster_name)], 1))
        return jobs

    def make_executor(
        self, name: str, pipeline: list, tasks: int, depends: PipelineExecutor | None
    ) -> PipelineExecutor:
        logging_dir = self.out / "logs" / name
        common = dict(tasks=tasks, logging_dir=str(logging_dir), depends=depends, skip_completed=name != "report")
        if self.run.executor == "local":
            workers = min(self.run.workers, tasks)
            return LocalExecutor(pipeline, workers=workers, start_method=self.run.start_method, **common)
        if self.run.executor == "slurm":
            from datatrove.executor.slurm import SlurmPipelineExecutor

            defaults = {"job_name": f"xuanyuan_data_{name}", "slurm_logs_folder": str(logging_dir / "slurm")}
            return SlurmPipelineExecutor(pipeline, **common, **{**defaults, **self.run.slurm})
        from datatrove.executor.ray import RayPipelineExecutor

        return RayPipelineExecutor(pipeline, **common, **self.run.ray)

    def settings(self) -> dict:
        """Every section's settings, by section name (run, normalize, rules, dedup, sampling)."""
        return {section.name: asdict(getattr(self, section.name)) for section in fields(self)}

    def prepare_output_dir(self) -> None:
        """Refuse to mix two different configurations in one output_dir (finished tasks would be reused)."""
        saved = self.out / "config.json"
        settings = self.settings()
        settings["run"].pop("workers")  # does not change the output
        settings["run"].pop("overwrite")
        if saved.exists() and json.loads(saved.read_text(encoding="utf-8")) != settings:
            if not self.run.overwrite:
                raise ValueError(
                    f"{self.out} holds a run with a different configuration; use another output_dir or --overwrite"
                )
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def launch(self) -> dict | None:
        """Run (local, ray) or submit (slurm) every executor; returns the report when it ran here.

        Ray: joins the Ray instance already initialized in this process, else `ray.init()` (which connects to
        the cluster named by `RAY_ADDRESS`, or starts a local instance)."""
        paths = resolve_sources(self.run.input)
        self.prepare_output_dir()
        if self.run.executor == "ray":
            ray = require("ray")
            if not ray.is_initialized():
                ray.init()
        executor = None
        for name, pipeline, tasks in self.executors(paths):
            executor = self.make_executor(name, pipeline, tasks, executor)
        executor.run()
        stats = self.out / "stats.json"
        if not stats.exists():
            return None
        report = json.loads(stats.read_text(encoding="utf-8"))
        if report["documents_in"] == 0:
            warnings.warn(f"no documents in {', '.join(paths)}: the output is empty (0 documents)", stacklevel=2)
        return report
