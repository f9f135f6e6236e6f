"""Train the embedded default's byte-level BPE tokenizer on JSONL text.

python recipes/train_tokenizer.py --config recipes/tiny/tokenizer.yaml [--vocab_size 4096 ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenizerTrainingConfig:
    data_files: list[str] = field(metadata={"help": "JSONL files whose text fields are the training corpus."})
    output_dir: str = field(metadata={"help": "Where to save the tokenizer."})
    vocab_size: int = field(default=4096, metadata={"help": "Target vocabulary size, special tokens included."})
    min_frequency: int = field(default=2, metadata={"help": "Minimum pair count for a merge."})
    model_max_length: int = field(default=1024, metadata={"help": "Saved as the tokenizer's maximum length."})


def main(config: TokenizerTrainingConfig) -> dict:
    from xuanyuan.cli import write_result
    from xuanyuan.tokenization import iter_jsonl_texts, train_bpe_tokenizer

    texts = list(iter_jsonl_texts(config.data_files))
    tokenizer = train_bpe_tokenizer(texts, config.vocab_size, config.min_frequency)
    tokenizer.model_max_length = config.model_max_length
    tokenizer.save_pretrained(config.output_dir)

    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    num_tokens = sum(len(ids) for ids in encoded)
    stats = {
        "vocab_size": len(tokenizer),
        "training_texts": len(texts),
        "training_chars": sum(len(t) for t in texts),
        "training_tokens": num_tokens,
        "chars_per_token": sum(len(t) for t in texts) / num_tokens,
        "lossless_roundtrip": all(tokenizer.decode(ids) == t for ids, t in zip(encoded, texts, strict=True)),
    }
    return write_result(config.output_dir, "tokenizer_stats.json", stats)


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([TokenizerTrainingConfig])
    main(config)
