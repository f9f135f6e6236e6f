"""Every private TRL/transformers name the trainers use still exists as used; a changed one fails with its name."""

import pytest
import torch
from datasets import Dataset

from xuanyuan.modeling import XuanYuanConfig, XuanYuanForSequenceClassification
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.reward import XuanYuanRewardConfig, XuanYuanRewardTrainer
from xuanyuan.training.trl_adapter import TOUCHPOINTS, Touchpoint, TRLAdapterError, check_touchpoint

METHODS = [t for t in TOUCHPOINTS if t.parameters is not None]
ATTRIBUTES = [t for t in TOUCHPOINTS if t.parameters is None]


@pytest.fixture(scope="module")
def reward_trainer(tmp_path_factory):
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    config = XuanYuanConfig.from_preset(
        "tiny", hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2
    )
    config.num_labels, config.pad_token_id = 1, tokenizer.pad_token_id
    pairs = [
        {
            "prompt": [{"role": "user", "content": f"问题{i}"}],
            "chosen": [{"role": "assistant", "content": "好的回答"}],
            "rejected": [{"role": "assistant", "content": "差"}],
        }
        for i in range(4)
    ]
    args = XuanYuanRewardConfig(
        output_dir=str(tmp_path_factory.mktemp("rm")), use_cpu=True, bf16=False, report_to=[], max_length=64
    )
    return XuanYuanRewardTrainer(
        model=XuanYuanForSequenceClassification(config),
        args=args,
        train_dataset=Dataset.from_list(pairs),
        processing_class=tokenizer,
    )


@pytest.mark.parametrize("touchpoint", METHODS, ids=lambda t: f"{t.owner}.{t.name}")
def test_each_private_method_exists_with_the_parameters_used(touchpoint):
    check_touchpoint(touchpoint)


@pytest.mark.parametrize("touchpoint", ATTRIBUTES, ids=lambda t: f"{t.owner}.{t.name}")
def test_each_private_attribute_exists_on_a_built_trainer(touchpoint, reward_trainer):
    check_touchpoint(touchpoint, reward_trainer)  # a RewardTrainer is a transformers Trainer too


def test_a_moved_or_changed_name_fails_naming_it(reward_trainer):
    with pytest.raises(TRLAdapterError, match=r"trl\.SFTTrainer\._no_such_hook is gone .*trl==1\.16\.0"):
        check_touchpoint(Touchpoint("trl:SFTTrainer", "_no_such_hook", ()))
    with pytest.raises(TRLAdapterError, match=r"_prepare_dataset now takes \('dataset', 'processing_class'\)"):
        check_touchpoint(Touchpoint("trl:SFTTrainer", "_prepare_dataset", ("dataset", "tokenizer")))
    with pytest.raises(TRLAdapterError, match=r"trl\.RewardTrainer\._gone_metrics is gone"):
        check_touchpoint(Touchpoint("trl:RewardTrainer", "_gone_metrics", None), reward_trainer)
    with pytest.raises(TRLAdapterError, match="update xuanyuan/training/trl_adapter.py"):
        check_touchpoint(Touchpoint("transformers:Trainer", "_no_such_hook", ()))


def test_reward_metrics_land_in_trls_store(reward_trainer):
    chosen, rejected = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 1.0])
    margins = reward_trainer.log_pairs("eval", torch.ones(4, 3, dtype=torch.long), chosen, rejected)
    assert margins.tolist() == [1.0, -0.5]
    logged = reward_trainer._metrics["eval"]
    assert (logged["accuracy"][-1], logged["margin"][-1], logged["max_reward"][-1]) == (0.5, 0.25, 1.0)
