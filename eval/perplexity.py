"""Perplexity and bits-per-byte of a causal LM on held-out JSONL documents.

python eval/perplexity.py --model outputs/tiny/base --data_files heldout.jsonl --output_dir outputs/tiny/eval/base
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PerplexityConfig:
    model: str = field(metadata={"help": "Model folder or Hub id."})
    data_files: list[str] = field(metadata={"help": "Record files, globs or Hub datasets: one document per record."})
    output_dir: str = field(metadata={"help": "Where perplexity.json is written."})
    text_field: str = field(default="text", metadata={"help": "Record field that holds the document."})
    max_length: int = field(default=1024, metadata={"help": "Window length in tokens."})
    batch_size: int = field(default=8, metadata={"help": "Windows per forward pass."})
    max_documents: int | None = field(default=None, metadata={"help": "Score only the first N documents."})


def main(config: PerplexityConfig) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from xuanyuan.cli import write_result
    from xuanyuan.data.records import load_texts
    from xuanyuan.evaluation import evaluate_perplexity
    from xuanyuan.tokenization import load_tokenizer

    texts = load_texts(config.data_files, config.text_field)[: config.max_documents]
    model = AutoModelForCausalLM.from_pretrained(config.model, dtype=torch.float32)
    tokenizer = load_tokenizer(config.model)
    result = evaluate_perplexity(model, tokenizer, texts, config.max_length, config.batch_size).to_dict()
    result["model"] = config.model
    return write_result(config.output_dir, "perplexity.json", result)


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([PerplexityConfig])
    main(config)
