"""Continued pretraining with bucketed packing, per-domain loss and a dynamic domain mixture.

    accelerate launch [--config_file accelerate_configs/zero1.yaml] recipes/pretrain.py \\
        --config recipes/tiny/pretrain.yaml --model_name_or_path DIR --data_files FILES --output_dir DIR \\
        [--max_steps 100 ...]

From an existing model (`--model_name_or_path`, local folder or Hub id) or from scratch (`--model_preset
tiny|6b|13b|70b`). Every YAML field can be overridden on the command line. `--resume_from_checkpoint
last` continues a killed run from its newest checkpoint. Writes the model, its tokenizer and
`pretrain_metrics.json` (losses overall and per domain, tokens seen, token utilization, mixture history).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so that `--help` answers without loading the training stack
    from trl import ModelConfig

    from xuanyuan.training.pretrain import PretrainConfig


@dataclass
class PretrainScriptArguments:
    data_files: list[str] = field(metadata={"help": "Corpus files: .jsonl, .jsonl.gz or .parquet records."})
    model_preset: str | None = field(
        default=None, metadata={"help": "Train from scratch: a XuanYuanConfig preset (when no model_name_or_path)."}
    )
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer (default: the model's, else shipped)."})
    text_field: str = field(default="text", metadata={"help": "Record field holding the document."})
    domain_field: str = field(default="domain", metadata={"help": "Record field holding the domain name."})
    on_bad_record: str = field(
        default="error", metadata={"help": "'error', or 'skip' (count it and write it to rejected_records.jsonl)."}
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow model code from the Hub."})
    metrics_file: str | None = field(default=None, metadata={"help": "Default: <output_dir>/pretrain_metrics.json."})


def load_model(script_args: PretrainScriptArguments, model_args: ModelConfig, tokenizer, max_length: int):
    from transformers import AutoModelForCausalLM

    from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
    from xuanyuan.training.model_loading import from_pretrained_kwargs

    if model_args.model_name_or_path:
        model = AutoModelForCausalLM.from_pretrained(
            model_args.model_name_or_path,
            revision=model_args.model_revision,
            trust_remote_code=script_args.trust_remote_code,
            **from_pretrained_kwargs(model_args),
        )
    elif script_args.model_preset:
        config = XuanYuanConfig.from_preset(
            script_args.model_preset,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        config.vocab_size = max(config.vocab_size, -(-len(tokenizer) // 128) * 128)  # as recipes/create_model.py
        config.max_position_embeddings = max(config.max_position_embeddings, max_length)
        if model_args.attn_implementation:
            config._attn_implementation = model_args.attn_implementation
        model = XuanYuanForCausalLM(config)
    else:
        raise ValueError("give --model_name_or_path (continue a model) or --model_preset (train from scratch)")
    model.config.use_cache = False
    return model


def main(
    script_args: PretrainScriptArguments, training_args: PretrainConfig, model_args: ModelConfig, callbacks=None
) -> dict:
    from transformers import set_seed

    from xuanyuan.data.corpus import load_corpus
    from xuanyuan.data.mixture.domains import parse_domain_weights
    from xuanyuan.data.packing import pack_corpus
    from xuanyuan.model_cards import write_training_card
    from xuanyuan.tokenization import load_tokenizer
    from xuanyuan.training.pretrain import PretrainTrainer

    set_seed(training_args.seed)
    output_dir = Path(training_args.output_dir)
    tokenizer = load_tokenizer(script_args.tokenizer or model_args.model_name_or_path)
    corpus = load_corpus(
        script_args.data_files,
        domains=list(parse_domain_weights(training_args.domain_weights)) or None,
        text_field=script_args.text_field,
        domain_field=script_args.domain_field,
        on_bad_record=script_args.on_bad_record,
        rejected_path=output_dir / "rejected_records.jsonl",
    )
    dataset, packing = pack_corpus(
        tokenizer, corpus.texts, corpus.domains, training_args.bucket_lengths, training_args.packing_min_utilization
    )
    model = load_model(script_args, model_args, tokenizer, max(training_args.bucket_lengths))
    trainer = PretrainTrainer(model, training_args, dataset, processing_class=tokenizer, callbacks=callbacks)

    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    seconds = time.perf_counter() - start
    model.config.use_cache = True  # off for training only: saved off, every later generate would skip the KV cache
    trainer.save_model(str(output_dir))
    metrics = {
        **trainer.summary(),
        "train_loss_mean": result.training_loss,
        "train_seconds": seconds,
        "packing": packing.to_dict(),
        "rejected_records": corpus.num_rejected,
        "parameters": sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters()),
    }
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(output_dir))
        metrics_file = Path(script_args.metrics_file or output_dir / "pretrain_metrics.json")
        metrics_file.write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
        base = model_args.model_name_or_path  # None from scratch
        write_training_card(output_dir, "pretrain", metrics, base_model=base, datasets=script_args.data_files)
        summary = {k: metrics[k] for k in ("final_train_loss", "tokens_seen", "token_utilization", "world_size")}
        print(json.dumps(summary, indent=2))
    return metrics


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args
    from xuanyuan.utils.distributed_exit import exit_finished_process

    main(
        *parse_recipe_args([PretrainScriptArguments], ["xuanyuan.training.pretrain:PretrainConfig", "trl:ModelConfig"])
    )
    exit_finished_process()
