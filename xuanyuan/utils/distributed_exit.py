"""How a training recipe's process leaves once its work is done, when it ran in a distributed world.

DeepSpeed keeps its gloo/NCCL process groups referenced from every partitioned parameter, its engine and a module
global, so `destroy_process_group()` (what `Trainer.end()` calls) unregisters them but cannot free them: they are
torn down during interpreter shutdown, in whatever order objects happen to die, while their worker threads still
run. Twice in this project's full test suite (once in CI) a finished two-process ZeRO-3 run aborted there
("terminate called without an active exception") after its model and metrics were saved, and the launcher reported
the run as failed; none of 87 repeats on an idle or loaded machine showed it: a teardown race, not a fault of the
run.

So a finished distributed process runs the normal exit handlers (loggers, trackers, temporary folders: everything
registered with `atexit`) and then leaves with `os._exit`, skipping only the interpreter's own teardown. A rank
whose work raised never gets here: its exception and non-zero exit go to the launcher as before.
"""

from __future__ import annotations

import atexit
import os
import sys


def exit_finished_process() -> None:
    """In a distributed world: run the exit handlers, flush and leave with status 0. Elsewhere: return."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
