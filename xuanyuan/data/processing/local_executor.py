"""datatrove's local executor, without its fixed cost for a one-worker run and without its hangs.

`LocalPipelineExecutor.run` starts a `multiprocess.Manager` (a server process) on every call, also with one
worker, where it runs the tasks in a plain loop and only uses the Manager's queue to hand out local rank 0.
The pipeline chains five executors, so a one-worker run paid five process start-ups. Its worker pool also
waits forever when a worker dies (the pool replaces it and the task is lost) or raises an exception that does
not unpickle. This subclass runs the same tasks — dependencies first, finished tasks skipped, a fresh copy of
the pipeline per task, merged stats written to `stats.json` — in a plain loop with one worker, and with more
in one process per task (at most `workers` at once) that reports back through a pipe: the first task that
fails or dies stops the others and its error is raised here, with the task named.
"""

from __future__ import annotations

import pickle
from copy import deepcopy

import multiprocess
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.utils.logging import logger
from datatrove.utils.stats import PipelineStats
from multiprocess.connection import wait


def _portable(error: BaseException) -> BaseException:
    """The error itself when it survives a pickle round trip, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def _task(executor: LocalExecutor, rank: int, local_rank: int, connection) -> None:
    """Worker process: run one task and send back ("ok", stats) or ("error", exception)."""
    try:
        outcome = ("ok", executor._run_for_rank(rank, local_rank))
    except BaseException as error:
        outcome = ("error", _portable(error))
    connection.send(outcome)
    connection.close()


def _stop(processes: list) -> None:
    """Terminate the processes (SIGTERM, then SIGKILL after 10 s) and reap them, so none is left behind."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


class LocalExecutor(LocalPipelineExecutor):
    def run(self):
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
        stats = self._run_in_processes(ranks_to_run) if self.workers > 1 else self._run_in_loop(ranks_to_run)
        merged = sum(stats, start=PipelineStats())
        with self.logging_dir.open("stats.json", "wt") as handle:
            merged.save_to_disk(handle)
        logger.success(merged.get_repr(f"All {self.local_tasks} tasks"))
        return merged

    def _run_in_loop(self, ranks: list[int]) -> list[PipelineStats]:
        pipeline, stats = self.pipeline, []
        for rank in ranks:
            self.pipeline = deepcopy(pipeline)
            stats.append(self._run_for_rank(rank, 0))
        self.pipeline = pipeline
        return stats

    def _run_in_processes(self, ranks: list[int]) -> list[PipelineStats]:
        """Each task in its own process, `workers` at a time; any failure stops all of them and is raised."""
        context = multiprocess.get_context(self.start_method)
        pending, free_slots, running, stats = list(ranks), list(range(self.workers)), {}, []
        try:
            while pending or running:
                while pending and free_slots:
                    rank, local_rank = pending.pop(0), free_slots.pop(0)
                    receiver, sender = context.Pipe(duplex=False)
                    process = context.Process(target=_task, args=(self, rank, local_rank, sender), daemon=True)
                    process.start()
                    sender.close()  # the child holds the only writer: its exit ends the pipe
                    running[receiver] = (process, rank, local_rank)
                for receiver in wait(list(running)):
                    process, rank, local_rank = running.pop(receiver)
                    stats.append(self._collect(receiver, process, rank))
                    free_slots.append(local_rank)
        finally:
            _stop([process for process, _, _ in running.values()])
        return stats

    def _collect(self, receiver, process, rank: int) -> PipelineStats:
        """The task's stats; its exception (or a RuntimeError when it died without a word) is raised."""
        try:
            status, value = receiver.recv()
        except EOFError:
            status, value = "died", None
        finally:
            receiver.close()
        process.join()
        if status == "ok":
            return value
        if status == "died":
            value = RuntimeError(f"the worker process died (exit code {process.exitcode}) without reporting")
        value.add_note(f"in task {rank}; its log: {self.logging_dir.path}/logs/task_{rank:05d}.log")
        raise value
