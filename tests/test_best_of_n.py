"""Best-of-N: the pick is the argmax of hand-made scores (first on ties, complete answers only), the sampled scores are
the reward model's on prompt + answer + EOS, and the records written are what the SFT and preference loaders read."""

import json

import pytest
import torch
from ppo_toy import save_toy_run_inputs, toy_config, toy_tokenizer
from script_loading import load_script

from xuanyuan.data.preferences import load_preference_pairs
from xuanyuan.data.sft_data import load_sft_dataset
from xuanyuan.modeling import XuanYuanForCausalLM, XuanYuanForSequenceClassification
from xuanyuan.training.best_of_n import Candidate, best_and_worst, best_of_n_records, sample_candidates
from xuanyuan.training.ppo.data import EncodedPrompt, PromptRecord, draw


def test_best_and_worst_is_the_first_argmax_and_argmin_among_usable_candidates():
    assert best_and_worst([0.1, 0.5, 0.5, -1.0], [True] * 4) == (1, 3)
    assert best_and_worst([2.0, 2.0, 2.0], [True] * 3) == (0, 0)
    # the highest and the lowest score are not usable (cut off or empty): the pick is among the rest
    assert best_and_worst([9.0, 1.0, 3.0, 3.0, -9.0], [False, True, True, True, False]) == (2, 1)
    assert best_and_worst([1.0, 2.0], [False, False]) is None


def test_draw_is_seeded_keeps_order_and_differs_between_seeds():
    items = list(range(100))
    first = draw(items, 10, seed=1)
    assert first == draw(items, 10, seed=1) and first == sorted(first) and len(set(first)) == 10
    assert draw(items, 10, seed=2) != first
    assert draw(items, None, seed=1) == items and draw(items, 500, seed=1) == items


def encoded(prompt_id: str, category: str, question: str) -> EncodedPrompt:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": question}]
    return EncodedPrompt(PromptRecord(prompt_id, messages[1:], "new", category), messages, [1, 2, 3])


def test_records_keep_the_best_complete_answer_and_load_as_sft_and_preference_data(tmp_path):
    from xuanyuan.data.records import write_jsonl

    prompts = [encoded("p0", "fact", "q0"), encoded("p1", "calc", "q1"), encoded("p2", "fact", "q2")]
    c = Candidate
    candidates = [
        [c("a", 0.2, True), c("b", 1.5, True), c("long", 3.0, False), c("d", -1.0, True)],
        [c("same", 0.4, True), c("same", 0.4, True), c("x", 5.0, False), c("", 0, False)],
        [c("cut", 2.0, False)] * 4,
    ]
    result = best_of_n_records(prompts, candidates, min_reward=0.5)
    # p0: "b" (1.5) is the best complete answer; p1's best (0.4) is not above 0.5; p2 has no complete answer
    assert [(r["id"], r["messages"][-1]["content"], r["reward"]) for r in result.sft] == [("p0", "b", 1.5)]
    assert result.sft[0]["messages"][:2] == prompts[0].messages and result.sft[0]["category"] == "fact"
    # pairs do not depend on the threshold; p1's best and worst are the same text, so it makes none
    assert [(p["id"], p["chosen"], p["rejected"]) for p in result.pairs] == [("p0", "b", "d")]
    summary = result.summary
    assert summary["dropped"] == {"not_above_min_reward": 1, "no_complete_answer": 1}
    assert summary["reward_mean_samples"] == pytest.approx((0.2 + 1.5 + 3.0 - 1.0 + 0.4 + 0.4 + 5.0 + 0 + 8.0) / 12)
    assert summary["reward_mean_best"] == pytest.approx((1.5 + 0.4) / 2)
    assert summary["complete_share"] == pytest.approx(5 / 12)
    assert (summary["kept"], summary["reward_mean_kept"], summary["pairs"]) == (1, 1.5, 1)

    write_jsonl(tmp_path / "sft.jsonl", result.sft)
    write_jsonl(tmp_path / "pairs.jsonl", result.pairs)
    dataset, report = load_sft_dataset([str(tmp_path / "sft.jsonl")])
    assert report.kept == 1 and dataset[0]["messages"][-1] == {"role": "assistant", "content": "b"}
    pairs = load_preference_pairs(tmp_path / "pairs.jsonl").pairs
    assert [(p.id, p.chosen, p.rejected, p.category) for p in pairs] == [("p0", "b", "d", "fact")]
    assert list(pairs[0].prompt) == prompts[0].messages


def test_sampled_scores_are_the_reward_models_on_prompt_answer_and_eos():
    torch.manual_seed(0)
    tokenizer = toy_tokenizer()
    policy = XuanYuanForCausalLM(toy_config(pad_token_id=0, eos_token_id=2)).eval()
    policy.generation_config.suppress_tokens = [0, 1]  # no pad or BOS inside answers: their text then round-trips
    reward_model = XuanYuanForSequenceClassification(toy_config(num_labels=1, pad_token_id=0)).eval()
    prompt_ids = [[1, 5, 6], [1, 7, 8, 9], [1, 4]]
    candidates = sample_candidates(policy, reward_model, tokenizer, prompt_ids, num_samples=4, max_new_tokens=6,
                                   batch_size=2)  # fmt: skip
    assert [len(row) for row in candidates] == [4, 4, 4]
    assert {answer.complete for row in candidates for answer in row} == {True, False}  # the toy samples both kinds
    checked = 0
    for ids, row in zip(prompt_ids, candidates, strict=True):
        for answer in filter(lambda answer: answer.text, row):
            checked += 1
            answer_ids = tokenizer(answer.text, add_special_tokens=False)["input_ids"]
            sequence = torch.tensor([ids + answer_ids + ([2] if answer.complete else [])])
            with torch.no_grad():  # one unpadded sequence: the score at its last token
                expected = reward_model(input_ids=sequence).logits[0, 0].item()
            assert answer.score == pytest.approx(expected, abs=1e-5)
    assert checked >= 8


def test_recipe_writes_readable_files_and_repeats_with_its_seed(tmp_path):
    recipe = load_script("recipes/best_of_n.py")
    flags = save_toy_run_inputs(tmp_path)
    paths = dict(zip(flags[::2], flags[1::2], strict=True))

    def run(folder: str) -> dict:
        args = recipe.BestOfNArguments(policy=paths["--sft_model"], reward_model=paths["--reward_model"],
                                       prompt_files=[paths["--prompt_files"]], num_samples=4, max_new_tokens=8,
                                       max_prompts=6, output_dir=str(tmp_path / folder), seed=3)  # fmt: skip
        return recipe.main(args)

    summary = run("first")
    assert summary["prompts"] == 6 and summary["samples"] == 24 and 0 < summary["kept"] <= 6
    sft_rows = (tmp_path / "first/sft.jsonl").read_text(encoding="utf-8")
    assert load_sft_dataset([str(tmp_path / "first/sft.jsonl")])[1].kept == summary["kept"]
    assert len(load_preference_pairs(tmp_path / "first/pairs.jsonl").pairs) == summary["pairs"]
    on_disk = json.loads((tmp_path / "first/best_of_n_summary.json").read_text(encoding="utf-8"))
    assert on_disk["kept"] == summary["kept"]
    run("second")
    assert (tmp_path / "second/sft.jsonl").read_text(encoding="utf-8") == sft_rows
