"""The quality report of a quantized checkpoint against the model it was made from.

Sizes (weights on disk, `get_memory_footprint()`) against the original in fp32 and bf16; held-out
perplexity of both (`xuanyuan.evaluation.perplexity`); agreement of their next-token logits on fixed
prompts; and C-Eval-format exam accuracy of both. Written as `quant_report.json` and `quant_report.md`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from ..data.records import load_texts
from ..evaluation.perplexity import evaluate_perplexity
from ..tokenization import load_tokenizer
from .agreement import logit_agreement

# Fixed prompts for logit agreement: documents in the corpus's register, and chat turns (rendered with
# the chat template) in the format the chat model serves.
DOCUMENT_PROMPTS = (
    "资产负债率是负债总额与资产总额的比率，用于衡量企业的偿债能力。",
    "该公司2023年实现营业收入128.5亿元，同比增长12.3%，净利润为15.2亿元。",
    "市盈率等于每股股价除以每股收益，是投资者评估股票估值的常用指标。",
    "以下是中国关于金融考试的单项选择题，请选出其中的正确答案。",
)
CHAT_PROMPTS = ("什么是期权？", "请解释净资产收益率的含义。", "央行下调存款准备金率通常会产生什么影响？")

# (model path, folder for its results) -> {"accuracy": float, ...}: a multiple-choice exam scorer.
ExamScorer = Callable[[str, Path], dict]


@dataclass
class ReportSettings:
    """What the quality report measures (command-line fields of both `quantize/` entry points)."""

    eval_data_files: list[str] = field(
        default_factory=list, metadata={"help": "Held-out JSONL documents for perplexity (none: skip perplexity)."}
    )
    text_field: str = field(default="text", metadata={"help": "Record field that holds each document."})
    max_eval_documents: int | None = field(default=None, metadata={"help": "Score only the first N documents."})
    eval_max_length: int = field(default=1024, metadata={"help": "Perplexity window length in tokens."})
    eval_batch_size: int = field(default=8, metadata={"help": "Perplexity windows per forward pass."})
    exam_dir: str | None = field(
        default=None, metadata={"help": "C-Eval-layout exam folder; accuracy before/after (none: skip)."}
    )
    exam_split: str = field(default="val", metadata={"help": "Exam split to score."})
    exam_num_fewshot: int = field(
        default=5, metadata={"help": "Dev examples before each exam question (5, as eval/ceval.py)."}
    )
    exam_scoring: str = field(default="letter", metadata={"help": "Exam formulation: letter, cloze or blank."})
    exam_reference_results: str | None = field(
        default=None,
        metadata={
            "help": "results.json of the original model's exam with the same settings (e.g. the exam stage's): "
            "reused instead of scoring the original again."
        },
    )


def weights_bytes(folder: str | Path) -> int:
    """Bytes of the weight files (`*.safetensors`, `*.bin`) in a checkpoint folder."""
    return sum(p.stat().st_size for pattern in ("*.safetensors", "*.bin") for p in Path(folder).glob(pattern))


def fixed_prompts(tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Token ids of the document prompts and, if the tokenizer has a chat template, the chat prompts."""
    ids = [tokenizer(text)["input_ids"] for text in DOCUMENT_PROMPTS]
    if tokenizer.chat_template:
        for question in CHAT_PROMPTS:
            rendered = tokenizer.apply_chat_template(
                [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
            )
            ids.append(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    return ids


@torch.no_grad()
def prompt_logits(model: PreTrainedModel, prompts: list[list[int]]) -> torch.Tensor:
    """fp32 next-token logits at every position of every prompt, concatenated to `(tokens, vocab)`."""
    device = next(model.parameters()).device
    rows = [model(input_ids=torch.tensor([ids], device=device)).logits[0].float().cpu() for ids in prompts]
    return torch.cat(rows)


def measure(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    prompts: list[list[int]],
    settings: ReportSettings,
) -> tuple[dict, torch.Tensor]:
    """Perplexity and memory footprint of one model, and its logits on the prompts."""
    model.eval()
    result: dict = {"memory_footprint_bytes": model.get_memory_footprint()}
    if texts:
        result["perplexity"] = evaluate_perplexity(
            model, tokenizer, texts, settings.eval_max_length, settings.eval_batch_size
        ).to_dict()
    return result, prompt_logits(model, prompts)


def reused_exam(settings: ReportSettings, reference_path: str) -> dict:
    """The original model's exam from `exam_reference_results`, checked to be this model under these settings."""
    path = Path(settings.exam_reference_results)
    results = json.loads(path.read_text(encoding="utf-8"))
    given = results["settings"]
    wanted = {
        "model": str(reference_path),
        "data": settings.exam_dir,
        "split": settings.exam_split,
        "num_fewshot": settings.exam_num_fewshot,
        "scoring": settings.exam_scoring,
    }
    differ = {key: (given.get(key), value) for key, value in wanted.items() if given.get(key) != value}
    if differ:
        raise ValueError(f"{path}: scored with other settings than this report's (given, wanted): {differ}")
    weights = [p.stat().st_mtime for p in Path(reference_path).glob("*.safetensors")]
    if weights and path.stat().st_mtime < max(weights):
        raise ValueError(f"{path} is older than the weights in {reference_path}: score the model again")
    return {**results["overall"], "results": str(path)}


def quality_report(
    reference_path: str,
    quantized_path: str,
    settings: ReportSettings,
    method: dict,
    exam_scorer: ExamScorer | None = None,
    device: str = "cpu",
) -> dict:
    """Compare the quantized checkpoint at `quantized_path` with the fp32 original at `reference_path`."""
    tokenizer = load_tokenizer(quantized_path)
    texts = load_texts(settings.eval_data_files, settings.text_field)[: settings.max_eval_documents]
    prompts = fixed_prompts(tokenizer)

    reference = AutoModelForCausalLM.from_pretrained(reference_path, dtype=torch.float32).to(device)
    num_parameters = sum(p.numel() for p in reference.parameters())
    reference_result, reference_logits = measure(reference, tokenizer, texts, prompts, settings)
    reference_result["memory_footprint_bf16_bytes"] = reference.to(torch.bfloat16).get_memory_footprint()
    del reference

    quantized = AutoModelForCausalLM.from_pretrained(quantized_path, device_map=device)
    quantized_result, quantized_logits = measure(quantized, tokenizer, texts, prompts, settings)
    quantization_config = quantized.config.quantization_config
    quantized_result["quantization_config"] = (
        quantization_config if isinstance(quantization_config, dict) else quantization_config.to_dict()
    )
    del quantized

    fp32_bytes, bf16_bytes = 4 * num_parameters, 2 * num_parameters
    quantized_bytes = weights_bytes(quantized_path)
    report = {
        "method": method,
        "reference": {"path": str(reference_path), "num_parameters": num_parameters, **reference_result},
        "quantized": {"path": str(quantized_path), "weights_bytes": quantized_bytes, **quantized_result},
        "size": {
            "weights_bytes": quantized_bytes,
            "reference_weights_bytes_on_disk": weights_bytes(reference_path),
            "fp32_weights_bytes": fp32_bytes,
            "bf16_weights_bytes": bf16_bytes,
            "ratio_to_fp32": quantized_bytes / fp32_bytes,
            "ratio_to_bf16": quantized_bytes / bf16_bytes,
            "memory_footprint_ratio_to_fp32": quantized_result["memory_footprint_bytes"]
            / reference_result["memory_footprint_bytes"],
            "memory_footprint_ratio_to_bf16": quantized_result["memory_footprint_bytes"]
            / reference_result["memory_footprint_bf16_bytes"],
        },
        "logit_agreement": logit_agreement(reference_logits, quantized_logits),
    }
    if texts:
        report["perplexity_ratio"] = (
            quantized_result["perplexity"]["perplexity"] / reference_result["perplexity"]["perplexity"]
        )
    if exam_scorer is not None:
        before = (
            reused_exam(settings, reference_path)
            if settings.exam_reference_results
            else exam_scorer(str(reference_path), Path(quantized_path, "exam", "original"))
        )
        after = exam_scorer(str(quantized_path), Path(quantized_path, "exam", "quantized"))
        report["reference"]["exam"], report["quantized"]["exam"] = before, after
        report["exam_accuracy_delta"] = after["accuracy"] - before["accuracy"]
    return report


def _mb(num_bytes: float) -> str:
    return f"{num_bytes / 1e6:.2f}"


def report_markdown(report: dict) -> str:
    """A short human-readable table of the report."""
    size, agreement = report["size"], report["logit_agreement"]
    reference, quantized = report["reference"], report["quantized"]
    lines = [
        "| measure | original | quantized | ratio |",
        "|---|---|---|---|",
        f"| weights on disk (MB) | {_mb(size['fp32_weights_bytes'])} fp32 / {_mb(size['bf16_weights_bytes'])} bf16 "
        f"| {_mb(size['weights_bytes'])} | {size['ratio_to_fp32']:.3f}× fp32, {size['ratio_to_bf16']:.3f}× bf16 |",
        f"| get_memory_footprint() (MB) | {_mb(reference['memory_footprint_bytes'])} fp32 / "
        f"{_mb(reference['memory_footprint_bf16_bytes'])} bf16 | {_mb(quantized['memory_footprint_bytes'])} | "
        f"{size['memory_footprint_ratio_to_fp32']:.3f}× fp32, {size['memory_footprint_ratio_to_bf16']:.3f}× bf16 |",
    ]
    if "perplexity_ratio" in report:
        lines.append(
            f"| held-out perplexity | {reference['perplexity']['perplexity']:.3f} | "
            f"{quantized['perplexity']['perplexity']:.3f} | {report['perplexity_ratio']:.4f} |"
        )
    if "exam_accuracy_delta" in report:
        lines.append(
            f"| exam accuracy | {reference['exam']['accuracy']:.4f} | {quantized['exam']['accuracy']:.4f} | "
            f"{report['exam_accuracy_delta']:+.4f} (difference) |"
        )
    lines += [
        "",
        f"Logit agreement on {agreement['num_tokens']} prompt tokens: KL(original‖quantized) mean "
        f"{agreement['kl_mean']:.5f} nats (max {agreement['kl_max']:.5f}), "
        f"relative L2 {agreement['relative_l2']:.4f}, top-1 agreement {agreement['top1_agreement']:.3f}.",
    ]
    return "\n".join(lines) + "\n"


def write_report(report: dict, output_dir: str | Path) -> None:
    Path(output_dir, "quant_report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    Path(output_dir, "quant_report.md").write_text(report_markdown(report), encoding="utf-8")
