"""RAFT: each round samples its own draw with the previous round's model and fine-tunes that model; a run interrupted
after round 1's sampling resumes to the same final weights as an uninterrupted one."""

import json
import shlex
import shutil
from pathlib import Path

import pytest
import torch
from ppo_toy import save_toy_run_inputs
from safetensors.torch import load_file
from script_loading import load_script

from xuanyuan.training.merging import load_state_dict

# the toy tokenizer's template, with the assistant's reply and EOS marked for the assistant-only loss
TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + ' </s>' }}"
    "{% endgeneration %}{% else %}{{ m['content'] + ' ' }}{% endif %}{% endfor %}"
)


def test_rounds_chain_the_models_and_draw_with_their_own_seed():
    raft = load_script("recipes/raft.py")
    args = raft.RAFTArguments(seed=5, prompts_per_round=16, num_samples=3, min_reward=0.5)
    stages = raft.round_stages(args, 2, "/r/round-1/model", Path("/r/round-2"))
    best_of_n, sft = (shlex.split(stage["command"]) for stage in stages)

    def value(argv: list[str], flag: str) -> str:
        return argv[argv.index(flag) + 1]

    assert value(best_of_n, "--policy") == value(sft, "--model_name_or_path") == "/r/round-1/model"
    draw = (value(best_of_n, "--seed"), value(best_of_n, "--max_prompts"), value(best_of_n, "--num_samples"))
    assert draw == ("7", "16", "3")  # round 2 of seed 5
    assert value(best_of_n, "--min_reward") == "0.5"
    assert value(sft, "--train_files") == value(best_of_n, "--output_dir") + "/sft.jsonl"
    assert value(sft, "--output_dir") == "/r/round-2/model"


@pytest.mark.slow  # three recipe processes (best-of-N, SFT, SFT again) and two runner starts: ~25-45 s
def test_resuming_after_round_one_sampling_gives_the_uninterrupted_weights(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    raft = load_script("recipes/raft.py")
    flags = save_toy_run_inputs(tmp_path)
    inputs = dict(zip(flags[::2], flags[1::2], strict=True))
    tokenizer = AutoTokenizer.from_pretrained(inputs["--sft_model"])
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(inputs["--sft_model"])
    output = tmp_path / "raft"
    args = raft.RAFTArguments(
        policy=inputs["--sft_model"], reward_model=inputs["--reward_model"], prompt_files=[inputs["--prompt_files"]],
        output_dir=str(output), rounds=1, prompts_per_round=6, num_samples=4, max_new_tokens=10,
        sft_overrides="--max_steps 2 --per_device_train_batch_size 4 --max_length 64 --learning_rate 1e-2",
    )  # fmt: skip
    summary = raft.main(args)
    (first,) = summary["rounds"]
    assert first["prompts"] == 6 and 0 < first["kept"] <= 6 and first["sft_steps"] == 2
    uninterrupted = load_file(output / "model.safetensors")
    initial = load_state_dict(inputs["--sft_model"])
    assert any(not torch.equal(uninterrupted[name], tensor) for name, tensor in initial.items())  # SFT moved it

    # killed during round 1's SFT: its record and output are gone, the sampling stage's are kept
    state_path = output / "pipeline_state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    del state["stages"]["round1_sft"]
    state_path.write_text(json.dumps(state), encoding="utf-8")
    shutil.rmtree(output / "round-1/model")
    raft.main(args)
    stages = json.loads((output / "report.json").read_text(encoding="utf-8"))["stages"]
    assert stages["round1_best_of_n"]["reused"] and not stages["round1_sft"]["reused"]
    resumed = load_file(output / "model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[name], tensor) for name, tensor in uninterrupted.items())
    assert AutoModelForCausalLM.from_pretrained(output).generation_config.eos_token_id == tokenizer.eos_token_id
