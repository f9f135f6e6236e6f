"""C-Eval / CMMLU / FinanceIQ evaluation of a causal LM: load data and model, score every subject, write reports.

Shared by `eval/mc.py --benchmark ...` and its aliases `eval/ceval.py`, `eval/cmmlu.py`, `eval/finance_iq.py`.
The model is loaded with `from_pretrained` and whatever `quantization_config` its checkpoint carries
(bitsandbytes 8/4-bit, GPTQ); `dtype` and `device_map` are only passed through, never forced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..utils.padding import PADDING_SIDES
from .mc_data import BENCHMARKS, LETTERS, get_benchmark, load_hub, load_local
from .mc_prompts import SCORINGS, STYLES
from .mc_requests import build_requests

if TYPE_CHECKING:  # torch and transformers load when a model is evaluated, not for `--help`
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SCORING_DESCRIPTIONS = {
    "letter": "log-probability of the answer letter after the prompt (official protocol: argmax over A-D)",
    "cloze": "option text as the continuation, log-likelihood per character (OLMES cloze formulation)",
    "blank": "option substituted into the question's blank, the completed rest scored per character "
    "(cloze for questions without a blank)",
}


@dataclass
class MCEvalConfig:
    model: str = field(metadata={"help": "Model folder or Hub id (quantized checkpoints load as saved)."})
    output_dir: str = field(metadata={"help": "Where results.json, results.md and the PNG charts are written."})
    benchmark: str = field(default="ceval", metadata={"help": f"One of {sorted(BENCHMARKS)}."})
    data_dir: str | None = field(
        default=None, metadata={"help": "Local copy in the official layout; without it the Hub dataset is used."}
    )
    hub_dataset: str | None = field(default=None, metadata={"help": "Hub dataset id (default: the official one)."})
    split: str | None = field(default=None, metadata={"help": "Scored split (default: C-Eval val, else test)."})
    subjects: list[str] | None = field(default=None, metadata={"help": "Only these subjects (default: all)."})
    encoding: str = field(
        default="utf-8", metadata={"help": "Encoding of the local CSV files: utf-8 (a BOM is accepted), gbk, ..."}
    )
    num_fewshot: int = field(default=5, metadata={"help": "Dev examples before each question (0-5)."})
    scoring: str = field(default="letter", metadata={"help": f"One of {SCORINGS}."})
    chat_template: bool = field(default=False, metadata={"help": "Wrap the prompt in the tokenizer's chat template."})
    batch_size: int = field(default=8, metadata={"help": "Questions per forward pass."})
    padding_side: str = field(default="right", metadata={"help": f"One of {PADDING_SIDES}."})
    max_length: int | None = field(default=None, metadata={"help": "Prompt limit (default: the model's context)."})
    dtype: str = field(default="auto", metadata={"help": "Model dtype: auto (as saved), float32, bfloat16, ..."})
    device_map: str | None = field(default=None, metadata={"help": "e.g. auto to place the model on GPUs."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow the checkpoint's own model code."})


def context_limit(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_length: int | None) -> int | None:
    limits = [max_length or getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
    limits = [limit for limit in limits if limit and limit < 10**8]  # tokenizers without a limit report ~1e30
    return min(limits) if limits else None


def run_mc_eval(config: MCEvalConfig) -> dict:
    from transformers import AutoModelForCausalLM

    from ..tokenization import load_tokenizer
    from .mc_report import QuestionResult, question_results, summarize, write_report
    from .mc_scoring import score_cached

    benchmark = get_benchmark(config.benchmark)
    if config.scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {config.scoring!r}")
    split = config.split or benchmark.default_split
    if config.data_dir:
        subjects = load_local(benchmark, config.data_dir, split, config.num_fewshot, config.subjects, config.encoding)
    else:
        subjects = load_hub(benchmark, split, config.num_fewshot, config.subjects, config.hub_dataset)
    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    if config.chat_template and not tokenizer.chat_template:
        raise ValueError(f"{config.model}'s tokenizer has no chat template; drop --chat_template")
    model = AutoModelForCausalLM.from_pretrained(
        config.model, dtype=config.dtype, device_map=config.device_map, trust_remote_code=config.trust_remote_code
    ).eval()
    max_length = context_limit(model, tokenizer, config.max_length)
    pad_token_id = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0)
    style = STYLES[benchmark.prompt_style]

    results: list[QuestionResult] = []
    answer_tokens = None
    for subject in subjects:
        requests = build_requests(
            tokenizer, style, subject, config.num_fewshot, config.scoring, config.chat_template, max_length
        )
        if answer_tokens is None and config.scoring == "letter":
            answer_tokens = {letter: tokenizer.convert_ids_to_tokens(ids)
                             for letter, ids in zip(LETTERS, requests[0].continuation_ids, strict=True)}  # fmt: skip
        scores = score_cached(
            model, requests, config.scoring, config.batch_size, config.padding_side, pad_token_id, subject.name
        )
        results.extend(question_results(subject.name, requests, scores))

    settings = {
        "benchmark": benchmark.name,
        "model": config.model,
        "data": config.data_dir or (config.hub_dataset or benchmark.hub_id),
        "split": split,
        "num_fewshot": config.num_fewshot,
        "scoring": config.scoring,
        "scoring_description": SCORING_DESCRIPTIONS[config.scoring],
        "chat_template": config.chat_template,
        "answer_tokens": answer_tokens,
        "max_length": max_length,
        "questions_with_fewer_shots": sum(r.num_shots < config.num_fewshot for r in results),
        "questions_truncated": sum(r.truncated for r in results),
    }
    report = {"settings": settings, **summarize(results, subjects, benchmark.category_order)}
    write_report(report, results, config.output_dir)
    return report


def main(benchmark: str | None = None) -> dict:
    """Command line: `--config x.yaml` and/or flags; `benchmark` presets --benchmark for the alias scripts."""
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([MCEvalConfig], defaults={"benchmark": benchmark} if benchmark else None)
    report = run_mc_eval(config)
    summary = {key: report[key] for key in ("settings", "categories", "overall")}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return report
