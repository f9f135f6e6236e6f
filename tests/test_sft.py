"""SFT: data validation, masking (assistant-only, multi-turn, mixed pretraining text), per-group losses,
the sampled mix, the category-ratio rule, LoRA/QLoRA, adapter merging, the card and a tiny end-to-end run."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from script_loading import load_script
from trl import SFTConfig, SFTTrainer

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.data.mixture.categories import Mixture, MixtureSampler, RatioRule, classify_categories, rebalance_shares
from xuanyuan.data.records import RecordError
from xuanyuan.data.sft_data import load_sft_dataset, load_text_dataset
from xuanyuan.hub import ModelCard, chat_generation_config, render_model_card
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training import XuanYuanSFTConfig, XuanYuanSFTTrainer

SYSTEM = "你是轩辕，一个金融助手。"
NAMES = ["甲银行", "乙证券", "丙保险", "丁基金", "戊信托", "己期货", "庚租赁", "辛资管"]


def conversation(i: int, turns: int = 1) -> dict:
    name = NAMES[i % len(NAMES)]
    messages = [{"role": "system", "content": SYSTEM}] if i % 2 else []
    for t in range(turns):
        messages += [
            {"role": "user", "content": f"{name}的代码是多少？" if t == 0 else "它的总部在哪里？"},
            {"role": "assistant", "content": f"{name}的代码是{100 + i % len(NAMES)}。" if t == 0 else "在上海。"},
        ]
    return {"messages": messages, "category": ["fact", "calc", "safety"][i % 3]}


def documents(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"text": "".join(rng.choice(NAMES) + "发布了年报。" for _ in range(rng.randint(2, 12)))} for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer):
    torch.manual_seed(0)
    config = XuanYuanConfig.from_preset(
        "tiny",
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    path = tmp_path_factory.mktemp("sft_model")
    XuanYuanForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def sft_args(tmp_path, **overrides) -> XuanYuanSFTConfig:
    settings = dict(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to=[],
        assistant_only_loss=True,
        max_length=256,
        per_device_train_batch_size=8,
        save_strategy="no",
        logging_steps=1,
        seed=0,
    )
    return XuanYuanSFTConfig(**{**settings, **overrides})


def make_trainer(model_dir, tokenizer, tmp_path, train, pretrain=None, eval_dataset=None, **overrides):
    model = XuanYuanForCausalLM.from_pretrained(model_dir)
    return XuanYuanSFTTrainer(
        model,
        args=sft_args(tmp_path, **overrides),
        train_dataset=Dataset.from_list(train),
        pretrain_dataset=Dataset.from_list(pretrain) if pretrain else None,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
    )


# --- data loading ------------------------------------------------------------------------------------
def test_load_rejects_bad_records_naming_file_line_field(tmp_path):
    path = tmp_path / "sft.jsonl"
    good = conversation(0)
    bad_role = {"messages": [{"role": "bot", "content": "hi"}], "category": "x"}
    no_answer = {"messages": [{"role": "user", "content": "hi"}], "category": "x"}
    late_system = {"messages": [*good["messages"], {"role": "system", "content": "s"}]}
    empty = {"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "a"}]}
    rows = [good, bad_role, no_answer, late_system, empty]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")

    with pytest.raises(RecordError) as error:
        load_sft_dataset([str(path)])
    assert (error.value.path, error.value.line, error.value.field) == (str(path), 2, "messages[0].role")

    rejects = tmp_path / "rejects.jsonl"
    dataset, report = load_sft_dataset([str(path)], on_bad_record="skip", rejects_path=str(rejects))
    assert len(dataset) == 1 and report.kept == 1 and report.skipped == 4
    set_aside = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["field"]) for r in set_aside] == [
        (2, "messages[0].role"),
        (3, "messages"),
        (4, f"messages[{len(good['messages'])}].role"),
        (5, "messages[0].content"),
    ]
    assert set_aside[0]["record"] == bad_role


def test_load_prompt_completion_parquet_and_format_mixing(tmp_path):
    rows = [
        {"prompt": "问：1+1？", "completion": "答：2。", "category": "calc"},
        {"prompt": "问：2+2？", "completion": "答：4。"},
    ]
    Dataset.from_list(rows).to_parquet(str(tmp_path / "pc.parquet"))
    dataset, _ = load_sft_dataset([str(tmp_path / "pc.parquet")])
    assert dataset["completion"] == ["答：2。", "答：4。"] and dataset["category"] == ["calc", "default"]

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps(rows[0]) + "\n" + json.dumps(conversation(1)) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"line 2, field 'messages'.*started a 'prompt' dataset"):
        load_sft_dataset([str(mixed)])

    text = tmp_path / "text.jsonl"
    text.write_text('{"text": "年报。", "domain": "news"}\n{"text": ""}\n', encoding="utf-8")
    with pytest.raises(RecordError, match="line 2, field 'text'"):
        load_text_dataset([str(text)])


# --- masking -----------------------------------------------------------------------------------------
def labelled_text(tokenizer, example) -> tuple[str, str]:
    """(decoded tokens that carry loss, decoded tokens that do not), BOS excluded."""
    ids, labels = example["input_ids"], example["labels"]
    loss = [t for t, lab in zip(ids, labels, strict=True) if lab != -100]
    rest = [t for t, lab in zip(ids, labels, strict=True) if lab == -100]
    return tokenizer.decode(loss), tokenizer.decode(rest, skip_special_tokens=True)


def test_assistant_only_loss_multi_turn(model_dir, tokenizer, tmp_path):
    example = conversation(1, turns=2)  # system prompt, two user and two assistant turns
    trainer = make_trainer(model_dir, tokenizer, tmp_path, [example])
    loss_text, rest_text = labelled_text(tokenizer, trainer.train_dataset[0])
    replies = [m["content"] for m in example["messages"] if m["role"] == "assistant"]
    assert loss_text == "".join(f" {reply}</s>" for reply in replies)
    user = [m["content"] for m in example["messages"] if m["role"] == "user"]
    assert rest_text == f"{SYSTEM}\n Human: {user[0]} Assistant:Human: {user[1]} Assistant:"


@pytest.mark.parametrize("padding_free", [False, True])
def test_mixed_batch_keeps_instruction_masks_and_trains_all_pretraining_tokens(
    model_dir, tokenizer, tmp_path, padding_free
):
    sft, pretrain = [conversation(i, turns=1 + i % 2) for i in range(6)], documents(4)
    plain = make_trainer(model_dir, tokenizer, tmp_path, sft)  # instruction data alone
    mixed = make_trainer(model_dir, tokenizer, tmp_path, sft, pretrain, pretrain_ratio=0.3, padding_free=padding_free)
    examples = [mixed.train_dataset[i] for i in range(len(mixed.train_dataset))]
    batch = mixed.data_collator(examples)
    pretrain_group = len(mixed.mixture.categories)

    spans, offset = [], 0  # where each example's tokens sit in the batch
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        spans.append((0, row, 0, n) if padding_free else (row, row, 0, n))
        if padding_free:
            spans[-1] = (0, row, offset, offset + n)
            offset += n
    for (r, index, start, end), example in zip(spans, examples, strict=True):
        labels = batch["labels"][r, start:end].tolist()
        assert batch["input_ids"][r, start:end].tolist() == example["input_ids"]
        assert batch["group_ids"][r, start:end].unique().tolist() == [example["group_id"]]
        first = -100 if padding_free else example["input_ids"][0]  # padding-free never predicts across documents
        if example["group_id"] == pretrain_group:
            assert labels == [first, *example["input_ids"][1:]]
            assert tokenizer.decode(example["input_ids"]).endswith("</s>")
        else:
            reference = plain.train_dataset[index]["labels"]
            assert labels[1:] == reference[1:] and reference[0] == -100
    assert batch["group_ids"].eq(-1).sum() == batch["input_ids"].numel() - sum(len(e["input_ids"]) for e in examples)


def test_recipe_masks_equal_trl_default(model_dir, tokenizer, tmp_path):
    """Our prepared examples carry exactly the labels plain TRL SFTTrainer builds for the same records."""
    sft = [conversation(i, turns=1 + i % 3) for i in range(12)]
    default = SFTTrainer(
        XuanYuanForCausalLM.from_pretrained(model_dir),
        args=SFTConfig(
            output_dir=str(tmp_path / "d"), use_cpu=True, bf16=False, report_to=[], assistant_only_loss=True
        ),
        train_dataset=Dataset.from_list(sft),
        processing_class=tokenizer,
    )
    ours = make_trainer(model_dir, tokenizer, tmp_path, sft, padding_free=True)
    assert ours.train_dataset["input_ids"] == default.train_dataset["input_ids"]
    assert ours.train_dataset["labels"] == default.train_dataset["labels"]


# --- per-group losses --------------------------------------------------------------------------------
def test_logged_group_losses_equal_a_full_logits_reference(model_dir, tokenizer, tmp_path):
    sft, pretrain = [conversation(i, turns=1 + i % 2) for i in range(9)], documents(3)
    trainer = make_trainer(model_dir, tokenizer, tmp_path, sft, pretrain, pretrain_ratio=0.25, padding_free=True)
    examples = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    trainer.model.train()
    trainer.compute_loss(trainer.model, trainer.data_collator(examples))
    logged = trainer.group_losses(trainer.losses.drain(trainer.accelerator, "train"))

    sums, counts = Counter(), Counter()
    names = trainer.mixture.group_names
    with torch.no_grad():
        for example in examples:  # one example at a time, full logits, no padding: the straightforward way
            ids = torch.tensor([example["input_ids"]])
            logp = torch.log_softmax(trainer.model(input_ids=ids, use_cache=False).logits[0, :-1].double(), -1)
            labels = torch.tensor(example["labels"][1:])
            keep = labels != -100
            nll = -logp[keep].gather(1, labels[keep, None]).squeeze(1)
            name = names[example["group_id"]]
            sums[name] += nll.sum().item()
            counts[name] += int(keep.sum())
            source = "source/pretrain" if name == "source/pretrain" else "source/sft"
            sums[source] += nll.sum().item() if source == "source/sft" else 0.0
            counts[source] += int(keep.sum()) if source == "source/sft" else 0
    expected = {f"loss/{n}": sums[n] / counts[n] for n in counts if counts[n]}
    assert set(expected) == {k for k in logged if k.startswith("loss/")}
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value, rel=1e-4), key
    assert logged["token_share/source/pretrain"] == pytest.approx(counts["source/pretrain"] / sum(
        counts[n] for n in names))  # fmt: skip


# --- the mix -----------------------------------------------------------------------------------------
def test_sampler_realises_the_configured_mix():
    groups = [0] * 500 + [1] * 40 + [2] * 2000  # sizes unrelated to the weights
    sampler = MixtureSampler(groups, [0.5, 0.3, 0.2], num_samples=30000, seed=1)
    drawn = Counter(groups[i] for i in sampler)
    assert [drawn[g] / 30000 for g in range(3)] == pytest.approx([0.5, 0.3, 0.2], abs=0.012)
    first, second = list(sampler), list(sampler)
    assert first != second and list(MixtureSampler(groups, [0.5, 0.3, 0.2], 30000, seed=1)) == list(
        MixtureSampler(groups, [0.5, 0.3, 0.2], 30000, seed=1)
    )
    # group 1 is cycled through before any of its examples repeats
    small = [i for i in MixtureSampler(groups, [0.0, 1.0, 0.0], 80, seed=2)]
    assert sorted(small[:40]) == list(range(500, 540)) == sorted(small[40:])


def test_length_grouping_keeps_the_mix_and_cuts_padding():
    rng = random.Random(0)
    groups = [rng.randrange(2) for _ in range(4000)]
    lengths = [rng.randint(10, 400) if g else rng.randint(20, 150) for g in groups]
    plain = list(MixtureSampler(groups, [0.8, 0.2], 8000, seed=3))
    grouped = list(MixtureSampler(groups, [0.8, 0.2], 8000, seed=3, lengths=lengths, batch_size=16))
    assert Counter(groups[i] for i in grouped) == Counter(groups[i] for i in plain)  # same draws, reordered

    def padded(order):
        return sum(16 * max(lengths[i] for i in order[s : s + 16]) for s in range(0, len(order), 16))

    assert padded(grouped) < 0.7 * padded(plain)


def test_trainer_dataloader_realises_pretrain_ratio(model_dir, tokenizer, tmp_path):
    sft, pretrain = [conversation(i) for i in range(90)], documents(10)
    trainer = make_trainer(model_dir, tokenizer, tmp_path, sft, pretrain, pretrain_ratio=0.25, num_train_epochs=1)
    loader = trainer.get_train_dataloader()
    drawn = Counter()
    for _ in range(30):  # thirty epochs of batches: 3600 draws, standard error of a share < 0.008
        for batch in loader:
            drawn.update(batch["group_ids"][:, 0].tolist())
    total = sum(drawn.values())
    assert total == 30 * round(90 / 0.75)
    assert drawn[3] / total == pytest.approx(0.25, abs=0.03)
    assert [drawn[g] / total for g in range(3)] == pytest.approx([0.25] * 3, abs=0.03)  # 3 equal-sized categories


# --- the ratio rule ----------------------------------------------------------------------------------
def test_ratio_rule_on_a_synthetic_loss_history():
    rule = RatioRule(step=0.5, converged_tolerance=0.01, high_loss_margin=0.2, min_share=0.05)
    shares = {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1}
    previous = {"a": (2.0, 2.1), "b": (1.500, 1.6), "c": (3.0, 3.2), "d": (2.0, 2.2)}
    current = {
        "a": (1.8, 2.3),  # train fell, held-out rose: over-fit -> x0.5
        "b": (1.495, 1.5),  # train moved 0.33% < 1%: converged -> x0.5
        "c": (2.8, 3.0),  # still learning; held-out 3.0 > 1.2 x mean(2.3,1.5,3.0,2.0)=2.4: high-loss -> x1.5
        "d": (1.9, 2.0),  # learning, ordinary loss: keep
    }
    assert classify_categories(previous, current, rule) == {
        "a": "overfit",
        "b": "converged",
        "c": "high_loss",
        "d": "keep",
    }
    new, _ = rebalance_shares(shares, previous, current, rule)
    # raw: a 0.2, b 0.15, c 0.3, d 0.1 -> sum 0.75
    assert new == pytest.approx({"a": 0.2 / 0.75, "b": 0.15 / 0.75, "c": 0.3 / 0.75, "d": 0.1 / 0.75})

    # First epoch: no trend yet, only the level matters (train losses here, one category lacks held-out loss).
    first, verdicts = rebalance_shares(shares, None, {**current, "d": (1.9, None)}, rule)
    assert verdicts == {"a": "keep", "b": "keep", "c": "high_loss", "d": "keep"}  # 2.8 > 1.2 x 2.0
    assert first == pytest.approx({"a": 0.4 / 1.1, "b": 0.3 / 1.1, "c": 0.3 / 1.1, "d": 0.1 / 1.1})


def test_share_floor():
    keep = {c: (1.0, None) for c in "abc"}  # no previous epoch, equal losses: every verdict is "keep"
    shares, _ = rebalance_shares({"a": 0.97, "b": 0.02, "c": 0.01}, None, keep, RatioRule(min_share=0.1))
    assert shares == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})
    with pytest.raises(ValueError):
        rebalance_shares({"a": 0.5, "b": 0.5}, None, {c: (1.0, None) for c in "ab"}, RatioRule(min_share=0.6))
    assert Mixture.from_counts({"x": 3, "y": 1}, 0.2).group_weights() == pytest.approx([0.6, 0.2, 0.2])


# --- release -----------------------------------------------------------------------------------------
def test_model_card_and_generation_config(tokenizer):
    config = chat_generation_config(tokenizer)
    assert (config.eos_token_id, config.pad_token_id, config.bos_token_id) == (2, 0, 1)
    assert config.do_sample and config.temperature == 0.7 and config.top_p == 0.95
    card = ModelCard(
        model_name="me/xuanyuan-tiny-sft",
        base_model="me/xuanyuan-tiny",
        stage="SFT (LoRA adapter)",
        datasets=["sft/train.jsonl"],
        training={"learning_rate": 2e-5, "pretrain_ratio": 0.2},
        metrics={"eval": {"sft_loss": 1.23456}},
        is_adapter=True,
    )
    text = render_model_card(card, tokenizer)
    front = text.split("---")[1]
    assert "base_model: me/xuanyuan-tiny" in front and "library_name: peft" in front and "  - finance" in front
    assert 'AutoPeftModelForCausalLM.from_pretrained("me/xuanyuan-tiny-sft"' in text
    assert "<s>Human: 什么是市盈率？ Assistant:" in text  # the chat template's rendering of the example
    assert "| eval.sft_loss | 1.235 |" in text and "| pretrain_ratio | 0.2 |" in text


def test_lora_run_and_merge_equals_peft_logits(model_dir, tokenizer, tmp_path):
    from peft import LoraConfig

    from xuanyuan.training.adapters import merge_adapter

    trainer = XuanYuanSFTTrainer(
        model_dir,
        args=sft_args(tmp_path, max_steps=3, learning_rate=5e-3),
        train_dataset=Dataset.from_list([conversation(i) for i in range(24)]),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    trainer.train()
    lora_b = [p for n, p in trainer.model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.requires_grad for p in lora_b) and any(p.abs().sum() > 0 for p in lora_b)
    assert not any(p.requires_grad for n, p in trainer.model.named_parameters() if "lora" not in n)
    trainer.save_model(str(tmp_path / "adapter"))

    merged = merge_adapter(tmp_path / "adapter", tmp_path / "merged", base_model=model_dir)
    ids = torch.tensor([tokenizer("甲银行的代码是多少？")["input_ids"]])
    peft_model = trainer.model.eval()
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        assert not torch.allclose(expected, XuanYuanForCausalLM.from_pretrained(model_dir)(input_ids=ids).logits)
        reloaded = XuanYuanForCausalLM.from_pretrained(tmp_path / "merged")(input_ids=ids).logits
    torch.testing.assert_close(merged(input_ids=ids).logits, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reloaded, expected, atol=1e-5, rtol=1e-5)


def test_qlora_run(model_dir, tokenizer, tmp_path):
    bnb = pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes (pip install 'xuanyuan-recipes[bnb]')")
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig

    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
    )
    try:
        trainer = XuanYuanSFTTrainer(
            model_dir,
            args=sft_args(tmp_path, max_steps=3, learning_rate=5e-3),
            train_dataset=Dataset.from_list([conversation(i) for i in range(24)]),
            processing_class=tokenizer,
            quantization_config=quantization,
            peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
        )
    except (RuntimeError, NotImplementedError) as error:  # a bitsandbytes build without a 4-bit kernel here
        pytest.skip(f"bitsandbytes {bnb.__version__} cannot run 4-bit here: {error}")
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in trainer.model.modules())
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    result = trainer.train()
    assert torch.isfinite(torch.tensor(result.training_loss))
    changed = [n for n, p in trainer.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert changed and all("lora" in n for n in changed)


# --- end to end --------------------------------------------------------------------------------------
def test_tiny_recipe_run_lowers_heldout_loss(model_dir, tmp_path):
    recipe = load_script("recipes/sft.py")
    from trl import ModelConfig

    data = tmp_path / "data"
    data.mkdir()
    for name, rows in {
        "train.jsonl": [conversation(i, turns=1 + i % 2) for i in range(64)],
        "test.jsonl": [conversation(i + 1000, turns=1) for i in range(12)],
        "raw.jsonl": documents(20),
        "heldout.jsonl": documents(6, seed=1),
    }.items():
        (data / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    script = recipe.SFTScriptArguments(
        train_files=[str(data / "train.jsonl")],
        eval_files=[str(data / "test.jsonl")],
        pretrain_files=[str(data / "raw.jsonl")],
        pretrain_eval_files=[str(data / "heldout.jsonl")],
    )
    args = sft_args(
        tmp_path,
        pretrain_ratio=0.2,
        dynamic_category_ratios=True,
        eval_strategy="epoch",
        num_train_epochs=2,
        learning_rate=5e-3,
        padding_free=True,
        train_sampling_strategy="group_by_length",
        logging_steps=5,
    )
    metrics = recipe.main(script, args, ModelConfig(model_name_or_path=model_dir, dtype="float32"))
    assert metrics["eval"]["sft_loss"] < 0.7 * metrics["eval_before"]["sft_loss"]
    assert metrics["eval"]["pretrain_loss"] < metrics["eval_before"]["pretrain_loss"]
    assert set(metrics["eval_loss_by_group"]["sft"]) >= {"category/fact", "category/calc", "category/safety"}
    assert {"loss/source/pretrain", "loss/source/sft", "loss/category/fact"} <= set(metrics["train_loss_by_group"])
    history = metrics["mixture"]["history"]
    assert len(history) == 2 and sum(history[-1]["shares"].values()) == pytest.approx(1.0)
    out = Path(args.output_dir)
    saved = json.loads((out / "sft_metrics.json").read_text())
    assert saved["eval"] == metrics["eval"]
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == 2
    assert "{% generation %}" in (out / "chat_template.jinja").read_text()
    front_matter, body = (out / "README.md").read_text().split("---\n")[1:3]
    # the base model is a local folder here: named in the text, kept out of the Hub metadata (which wants an id)
    assert f"of {model_dir}, made with" in body and "base_model:" not in front_matter


def test_tensorboard_logs_stay_in_output_dir_when_evaluating_before_training(
    model_dir, tokenizer, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    records = [conversation(i) for i in range(8)]
    trainer = make_trainer(
        model_dir, tokenizer, tmp_path, records, eval_dataset=Dataset.from_list(records[:4]),
        report_to=["tensorboard"], max_steps=1,
    )  # fmt: skip
    trainer.evaluate(metric_key_prefix="before")
    trainer.train()
    assert not (tmp_path / "runs").exists()
    assert list((tmp_path / "out" / "runs").glob("events.out.tfevents.*"))
