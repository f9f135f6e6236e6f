"""Which checkpoint a run resumes from: `resume_from_checkpoint` with the Trainer's meaning, for every trainer.

`None`/`False`: start afresh. `True` (or the command line's "true"): the newest `checkpoint-N` folder in the
output folder, an error when there is none. A path: that checkpoint folder, an error when it is missing.
A checkpoint counts when it holds `marker`, the last file its trainer writes (the Trainer's
`trainer_state.json` by default; trainers with state of their own pass theirs), so one whose saving was cut
short is never picked.
"""

from __future__ import annotations

from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

TRAINER_STATE_NAME = "trainer_state.json"  # what transformers.trainer calls it; importing that module costs seconds

LATEST = (True, "true", "True")
FRESH = (None, False, "", "false", "False")


def latest_checkpoint(output_dir: str | Path, marker: str | None = None) -> Path | None:
    """The `checkpoint-N` folder with the largest N (holding `marker`, when given), or None."""
    found = [
        path
        for path in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if path.name.rpartition("-")[2].isdigit() and path.is_dir() and (marker is None or (path / marker).exists())
    ]
    return max(found, key=lambda path: int(path.name.rpartition("-")[2]), default=None)


def resolve_resume(
    resume_from_checkpoint: str | bool | None, output_dir: str | Path, marker: str | None = TRAINER_STATE_NAME
) -> str | None:
    """The checkpoint folder to resume from, or None to start afresh."""
    if resume_from_checkpoint in FRESH:
        return None
    if resume_from_checkpoint in LATEST:
        checkpoint = latest_checkpoint(output_dir, marker)
        if checkpoint is None:
            kind = (
                f"complete {PREFIX_CHECKPOINT_DIR}-N folder (with {marker})"
                if marker
                else f"{PREFIX_CHECKPOINT_DIR}-N folder"
            )
            raise FileNotFoundError(f"resume_from_checkpoint=true, but {output_dir} holds no {kind} to resume from")
        return str(checkpoint)
    if not Path(resume_from_checkpoint).is_dir():
        raise FileNotFoundError(f"resume_from_checkpoint: {resume_from_checkpoint} is not a checkpoint folder")
    return str(resume_from_checkpoint)
