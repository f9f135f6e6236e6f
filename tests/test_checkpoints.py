import pytest

from xuanyuan.training.checkpoints import TRAINER_STATE_NAME, latest_checkpoint, resolve_resume


def test_resume_has_the_trainers_meaning_and_skips_checkpoints_cut_short(tmp_path):
    for step, complete in ((2, True), (10, True), (11, False)):  # checkpoint-11: killed while saving
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "state.json").write_text("{}")
    (tmp_path / "checkpoint-notes").mkdir()  # not a step folder
    assert latest_checkpoint(tmp_path).name == "checkpoint-11"  # numeric order, not string order
    assert resolve_resume(True, tmp_path, "state.json") == str(tmp_path / "checkpoint-10")
    assert resolve_resume("true", tmp_path, "state.json") == str(tmp_path / "checkpoint-10")
    assert resolve_resume(str(tmp_path / "checkpoint-2"), tmp_path) == str(tmp_path / "checkpoint-2")
    assert resolve_resume(None, tmp_path) is None and resolve_resume("false", tmp_path) is None
    with pytest.raises(FileNotFoundError, match="no complete checkpoint-N"):
        resolve_resume(True, tmp_path / "empty", "state.json")
    with pytest.raises(FileNotFoundError, match="checkpoint-99 is not a checkpoint folder"):
        resolve_resume(str(tmp_path / "checkpoint-99"), tmp_path)


def test_the_default_marker_is_the_file_the_trainer_writes_last():
    from transformers import trainer

    assert TRAINER_STATE_NAME == trainer.TRAINER_STATE_NAME  # Trainer._save_checkpoint writes it after the rest
