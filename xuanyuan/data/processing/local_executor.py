"""datatrove's local executor, without its fixed cost for a one-worker run.

`LocalPipelineExecutor.run` starts a `multiprocess.Manager` (a server process) on every call, also with one
worker, where it runs the tasks in a plain loop and only uses the Manager's queue to hand out local rank 0.
The pipeline chains five executors, so a one-worker run paid five process start-ups. With one worker this
subclass runs the same loop — dependencies first, finished tasks skipped, a fresh copy of the pipeline per
task, merged stats written to `stats.json` — without the Manager; with more workers it is datatrove's.
"""

from __future__ import annotations

from copy import deepcopy

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.utils.logging import logger
from datatrove.utils.stats import PipelineStats


class LocalExecutor(LocalPipelineExecutor):
    def run(self):
        if self.workers != 1:
            return super().run()
        if self.depends and not self.depends._launched:
            logger.info(f'Launching dependency job "{self.depends}"')
            self.depends.run()
        if self.depends and (incomplete := self.depends.get_incomplete_ranks(skip_completed=True)):
            raise RuntimeError(f"dependency job {self.depends} left tasks {incomplete} unfinished")
        self._launched = True
        ranks = range(self.local_rank_offset, self.local_rank_offset + self.local_tasks)
        ranks_to_run = self.get_incomplete_ranks(ranks)
        if not ranks_to_run:
            logger.info(f"Not doing anything as all {self.local_tasks} tasks have already been completed.")
            return None
        self.save_executor_as_json()
        pipeline, stats = self.pipeline, []
        for rank in ranks_to_run:
            self.pipeline = deepcopy(pipeline)
            stats.append(self._run_for_rank(rank, 0))
        self.pipeline = pipeline
        merged = sum(stats, start=PipelineStats())
        with self.logging_dir.open("stats.json", "wt") as handle:
            merged.save_to_disk(handle)
        logger.success(merged.get_repr(f"All {self.local_tasks} tasks"))
        return merged
