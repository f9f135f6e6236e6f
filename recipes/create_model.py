"""Create a randomly initialized XuanYuan model from a size preset and save it with its tokenizer.

    python recipes/create_model.py --config recipes/tiny/model.yaml [--preset tiny --seed 0 ...]

The vocabulary is the preset's, grown (to a multiple of 128) if the tokenizer is larger.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CreateModelConfig:
    output_dir: str = field(metadata={"help": "Where to save the model and tokenizer."})
    preset: str = field(default="tiny", metadata={"help": "XuanYuanConfig preset: tiny, 6b, 13b or 70b."})
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer path or Hub id (default: shipped)."})
    seed: int = field(default=0, metadata={"help": "Initialization seed."})
    max_position_embeddings: int | None = field(default=None, metadata={"help": "Override the preset's context."})


def main(config: CreateModelConfig) -> dict:
    from transformers import GenerationConfig, set_seed

    from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
    from xuanyuan.cli import write_result
    from xuanyuan.tokenization import load_tokenizer

    set_seed(config.seed)
    tokenizer = load_tokenizer(config.tokenizer)
    overrides = {}
    if config.max_position_embeddings:
        overrides["max_position_embeddings"] = config.max_position_embeddings
    model_config = XuanYuanConfig.from_preset(config.preset, **overrides)
    if len(tokenizer) > model_config.vocab_size:
        model_config.vocab_size = -(-len(tokenizer) // 128) * 128
    model_config.pad_token_id = tokenizer.pad_token_id
    model_config.bos_token_id = tokenizer.bos_token_id
    model_config.eos_token_id = tokenizer.eos_token_id

    model = XuanYuanForCausalLM(model_config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=0.7,
        top_p=0.95,
        repetition_penalty=1.1,
        max_new_tokens=256,
    )
    model.save_pretrained(config.output_dir)
    tokenizer.save_pretrained(config.output_dir)
    info = {
        "preset": config.preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": model_config.vocab_size,
        "tokenizer_size": len(tokenizer),
    }
    return write_result(config.output_dir, "model_info.json", info)


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([CreateModelConfig])
    main(config)
