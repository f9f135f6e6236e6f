"""Shared set-up for the pretraining tests: a very small model and a three-domain corpus on disk."""

from __future__ import annotations

import json
import random
from pathlib import Path

from script_loading import load_script

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.tokenization import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("finance", "news", "web")


def write_corpus(path: Path, docs_per_domain: int = 40, seed: int = 0) -> Path:
    rng = random.Random(seed)
    companies = ["祺晟建工", "琨湛软件", "华鼎银行", "远航物流"]
    templates = {
        "finance": "{c}2023年实现营业收入{n}亿元，净利润{m}亿元。",
        "news": "记者报道：{c}股价今日上涨{m}%，成交额{n}亿元。",
        "web": "The shares of {c} rose {m} percent to {n} yuan today.",
    }
    records = []
    for domain in DOMAINS:
        for i in range(docs_per_domain):
            sentences = [
                templates[domain].format(c=rng.choice(companies), n=rng.randint(10, 999), m=rng.randint(1, 9))
                for _ in range(rng.randint(1, 6))
            ]
            records.append({"id": f"{domain}-{i}", "lang": "zh", "domain": domain, "text": "".join(sentences)})
    rng.shuffle(records)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def write_model(folder: Path) -> Path:
    tokenizer = load_tokenizer()
    config = XuanYuanConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    XuanYuanForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def recipe_args(model: Path, corpus: Path, output_dir: Path, *extra: str) -> list[str]:
    """Command-line arguments of a short CPU run of recipes/pretrain.py on the tiny YAML."""
    return [
        "--config", str(ROOT / "recipes/tiny/pretrain.yaml"),
        "--model_name_or_path", str(model),
        "--data_files", str(corpus),
        "--output_dir", str(output_dir),
        "--domain_weights", "finance=2", "news=1", "web=1",
        "--bucket_lengths", "32", "64", "128",
        "--max_length", "64",
        "--per_device_train_batch_size", "2",
        "--learning_rate", "3e-3",
        "--warmup_steps", "2",
        "--logging_steps", "1",
        "--report_to", "none",
        "--save_total_limit", "10",
        *extra,
    ]  # fmt: skip


def load_recipe():
    return load_script("recipes/pretrain.py")


def run_recipe(args: list[str], callbacks=None) -> dict:
    from xuanyuan.cli import parse_recipe_args

    recipe = load_recipe()
    parsed = parse_recipe_args(
        [recipe.PretrainScriptArguments], ["xuanyuan.training.pretrain:PretrainConfig", "trl:ModelConfig"], argv=args
    )
    return recipe.main(*parsed, callbacks=callbacks)
