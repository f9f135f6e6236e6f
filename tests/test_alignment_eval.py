"""The alignment comparison: held-out prompts, the sampled KL against a per-sequence reference, and the table."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest
import torch
from ppo_toy import save_toy_run_inputs, toy_config, toy_tokenizer
from script_loading import load_script

from xuanyuan.evaluation.alignment import MethodRow, held_out_prompts, sampled_kl, verdict
from xuanyuan.evaluation.judge import read_rater_sheet
from xuanyuan.modeling import XuanYuanForCausalLM


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_held_out_prompts_leave_out_what_a_method_trained_on(tmp_path):
    chats = write_jsonl(tmp_path / "test.jsonl", [
        {"id": "a", "messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "r"}]},
        {"id": "b", "messages": [{"role": "system", "content": "own"}, {"role": "user", "content": "q2"},
                                 {"role": "assistant", "content": "r"}]},
        {"id": "c", "messages": [{"role": "user", "content": "q3"}, {"role": "assistant", "content": "r"}]},
        {"id": "d", "messages": [{"role": "user", "content": "q4"}, {"role": "assistant", "content": "r"}]},
    ])  # fmt: skip
    rl = write_jsonl(tmp_path / "rl.jsonl", [{"id": "x", "prompt": "q3"}])
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"id": "y", "prompt": " q1 ", "chosen": "a", "rejected": "b"}])
    held_out = held_out_prompts([chats], [rl, pairs], max_prompts=None, system_prompt="sys")
    assert held_out.ids == ["b", "d"] and held_out.excluded == 2
    assert held_out.prompts[0][0] == {"role": "system", "content": "own"}  # its own system turn is kept
    assert held_out.prompts[1] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q4"}]
    assert held_out_prompts([chats], [rl, pairs], max_prompts=1, system_prompt=None).ids == ["b"]


def slow_sequence_kl(policy, reference, prompt: list[int], response: list[int], eos: int) -> float:
    """One unpadded sequence at a time: Σ over the response through its first EOS of log π − log π_ref."""
    end = response.index(eos) + 1 if eos in response else len(response)
    ids = torch.tensor([prompt + response[:end]])
    total = 0.0
    for sign, model in ((1.0, policy), (-1.0, reference)):
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        total += sign * sum(logp[len(prompt) - 1 + t, response[t]].item() for t in range(end))
    return total


def test_sampled_kl_matches_a_per_sequence_loop_and_is_zero_against_itself():
    tokenizer = toy_tokenizer()
    torch.manual_seed(0)
    policy = XuanYuanForCausalLM(toy_config(pad_token_id=0, eos_token_id=2)).eval()
    reference = XuanYuanForCausalLM(toy_config(pad_token_id=0, eos_token_id=2)).eval()
    prompts = [[{"role": "user", "content": "t1 t2 t3"}], [{"role": "user", "content": "t4"}]]
    samples = []
    generate = policy.generate

    def recording_generate(**kwargs):
        output = generate(**kwargs)
        samples.append((kwargs["input_ids"], output))
        return output

    policy.generate = recording_generate
    torch.manual_seed(1)
    kls = sampled_kl(policy, reference, tokenizer, prompts, max_new_tokens=6, batch_size=2)
    (input_ids, output), = samples  # fmt: skip
    expected = []
    for row in range(2):
        prompt = [t for t in input_ids[row].tolist() if t != tokenizer.pad_token_id]
        response = output[row, input_ids.shape[1] :].tolist()
        expected.append(slow_sequence_kl(policy, reference, prompt, response, tokenizer.eos_token_id))
    assert kls == pytest.approx(expected, abs=1e-4)
    assert any(abs(k) > 1e-3 for k in kls)  # two different models: the check above is not 0 == 0
    assert sampled_kl(policy, policy, tokenizer, prompts, 6, 2) == pytest.approx([0.0, 0.0], abs=1e-6)


def row(name, reward_vs_sft, good, bad, exam_difference=None, exam_p_value=None):
    return MethodRow(name, "", 1.0 + reward_vs_sft, reward_vs_sft, 0.5, good, 10 - good - bad, bad, 50.0,
                     0.4, exam_difference, exam_p_value)  # fmt: skip


def test_verdict_says_plainly_when_a_method_is_worse_than_sft():
    assert verdict(row("sft", 0.0, 0, 0), "sft") == "the starting point"
    worse = verdict(row("dpo", -0.2, 2, 5, -0.05, 0.01), "sft")
    assert worse == "lower reward than SFT (worse); judge: more losses than wins (worse); exam worse"
    better = verdict(row("ppo", 0.3, 6, 1, 0.01, 0.6), "sft")
    assert better == "higher reward than SFT; judge: more wins than losses; exam unchanged (p ≥ 0.05)"


def test_entry_point_writes_the_table_with_sft_first_and_a_copy_of_sft_tied(tmp_path):
    save_toy_run_inputs(tmp_path)
    toy_tokenizer().save_pretrained(tmp_path / "rm")  # the judge renders answers with the RM's own tokenizer
    torch.manual_seed(5)
    other = tmp_path / "other"
    XuanYuanForCausalLM(toy_config(pad_token_id=0, eos_token_id=2)).save_pretrained(other)
    toy_tokenizer().save_pretrained(other)
    held = write_jsonl(tmp_path / "held.jsonl", [{"id": f"h{i}", "prompt": f"t{i} t3"} for i in range(4, 10)])
    settings = {"split": "val", "num_fewshot": 5, "scoring": "blank"}  # the entry point's exam defaults
    right = {"sft": {"q1", "q2"}, "copy": {"q1", "q2"}, "other": {"q1", "q2", "q3", "q4"}}
    for name, correct in right.items():
        questions = [{"subject": "s", "id": q, "answer": "A", "prediction": "A" if q in correct else "B"}
                     for q in ("q1", "q2", "q3", "q4")]  # fmt: skip
        (tmp_path / f"{name}.json").write_text(json.dumps({"settings": settings, "questions": questions}))
    module = load_script("eval/alignment.py")
    args = module.AlignmentArguments(
        baseline=f"sft={tmp_path / 'sft'}",
        models=[f"copy={tmp_path / 'sft'}", f"other={other}"],
        reward_model=str(tmp_path / "rm"),
        output_dir=str(tmp_path / "out"),
        prompt_files=[held],
        exclude_prompt_files=[str(tmp_path / "prompts.jsonl")],  # the toy RL prompts "t{i} t{i+1}"
        max_new_tokens=5,
        system_prompt=None,
        exam_dir=str(tmp_path / "exam"),  # never read: every model's results are given
        exam_results=[f"{name}={tmp_path / name}.json" for name in right],
    )
    report = module.main(args)
    methods = report["methods"]
    assert list(methods) == ["sft", "copy", "other"]
    assert report["num_prompts"] == 6 and report["prompts_excluded"] == 0
    copy = methods["copy"]
    assert copy["kl_to_sft"] == pytest.approx(0.0, abs=1e-6) and copy["same"] == 6 and copy["reward_vs_sft"] == 0.0
    other_row = methods["other"]
    assert other_row["good"] + other_row["same"] + other_row["bad"] == 6
    assert (other_row["name"] in report["worse_than_sft"]) == (other_row["reward_vs_sft"] < 0)
    table = (tmp_path / "out/alignment.md").read_text(encoding="utf-8")
    assert "| sft |" in table and "| other |" in table and (tmp_path / "out/alignment.png").stat().st_size > 0
    answers = [json.loads(line) for line in (tmp_path / "out/answers.jsonl").read_text().splitlines()]
    assert len(answers) == 18 and {a["method"] for a in answers} == {"sft", "copy", "other"}
    assert methods["sft"]["exam_accuracy"] == 0.5 and methods["sft"]["exam_difference"] is None
    assert (copy["exam_accuracy"], copy["exam_difference"], copy["exam_p_value"]) == (0.5, 0.0, 1.0)
    assert (other_row["exam_accuracy"], other_row["exam_difference"]) == (1.0, 0.5)

    # Each method's blind rater sheet against SFT: one row per prompt, the judge's outcomes in its key.
    sheet = tmp_path / "out/rater/other/rater_sheet.csv"
    assert not (tmp_path / "out/rater/sft").exists()
    with open(sheet.with_name("rater_key.csv"), encoding="utf-8-sig") as handle:
        key = list(csv.DictReader(handle))
    assert [row["id"] for row in key] == [f"h{i}" for i in range(4, 10)]
    judged = Counter(row["judge_outcome"] for row in key)
    assert (judged["good"], judged["same"], judged["bad"]) == (other_row["good"], other_row["same"], other_row["bad"])
    assert read_rater_sheet(sheet, sheet.with_name("rater_key.csv"), "other")["majority"]["no_majority"] == 6

    (tmp_path / "copy.json").write_text(json.dumps({"settings": {**settings, "scoring": "letter"}, "questions": []}))
    with pytest.raises(SystemExit, match="scored with {'scoring': 'letter'}"):
        module.exam_results(args, {"copy": str(tmp_path / "sft")})
