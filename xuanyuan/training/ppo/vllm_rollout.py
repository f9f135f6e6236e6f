"""PPO rollouts sampled by vLLM (`use_vllm`): TRL's colocate mode, answers shaped as `generate`'s.

TRL's `VLLMGeneration` owns the engine: an in-process `vllm.LLM` on each training GPU, the actor's weights
loaded into it before every rollout (gathered under ZeRO-3, LoRA adapters merged first). This module adds what
PPO needs around it: the sampling settings that draw from the same distribution as `generate` with the trainer's
generation kwargs, XuanYuan served by vLLM's Llama implementation (its layers are Llama's), and the completions
as the (B·n, R) response tensor `generate` returns, so `score_responses` and everything after it are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import GenerationConfig

from ...utils.extras import require
from ...utils.padding import pad
from ..trl_adapter import generation_defaults
from .config import PPOConfig

# Settings `generate` applies that vLLM's sampler has no equivalent for; refused unless at transformers' default.
UNMIRRORED = ("num_beams", "typical_p", "epsilon_cutoff", "eta_cutoff", "no_repeat_ngram_size", "bad_words_ids")


def sampling_settings(generation_kwargs: dict, generation_config: GenerationConfig | None = None) -> dict:
    """`vllm.SamplingParams` fields for sampling as `policy.generate(**generation_kwargs)` does: each setting from
    `generation_kwargs`, else the policy's `generation_config`, else transformers' default, as `generate` resolves
    them (so an unset top_k is transformers' 50). `do_sample=False` is greedy: temperature 0."""
    from_config = generation_config.to_dict() if generation_config is not None else {}
    defaults = generation_defaults()

    def resolved(name: str):
        for source in (generation_kwargs, from_config):
            if source.get(name) is not None:
                return source[name]
        return defaults.get(name)

    unmirrored = {name: resolved(name) for name in UNMIRRORED if resolved(name) != defaults.get(name)}
    if unmirrored:
        raise ValueError(f"vLLM rollouts cannot sample as generate() does with {unmirrored}: use_vllm=false")
    if resolved("max_new_tokens") is None:
        raise ValueError("vLLM rollouts need max_new_tokens")
    return {
        "n": resolved("num_return_sequences"),
        "temperature": resolved("temperature") if resolved("do_sample") else 0.0,
        "top_p": resolved("top_p"),
        "top_k": resolved("top_k") or 0,  # vLLM: 0 = every token
        "min_p": resolved("min_p") or 0.0,
        "repetition_penalty": resolved("repetition_penalty"),
        "max_tokens": resolved("max_new_tokens"),
    }


def completions_to_responses(completions: Sequence[Sequence[int]], pad_token_id: int) -> torch.Tensor:
    """vLLM's completions (token ids each, the EOS kept when one was sampled) as `generate` returns responses:
    one row each, right-padded with `pad_token_id` to the longest, (B·n, R)."""
    return pad(completions, pad_token_id, side="right")[0]


def register_xuanyuan_with_vllm() -> None:
    """Serve `XuanYuanForCausalLM` checkpoints with vLLM's Llama model (same layers, same weight names)."""
    from vllm import ModelRegistry

    ModelRegistry.register_model("XuanYuanForCausalLM", "vllm.model_executor.models.llama:LlamaForCausalLM")


class VLLMSampler:
    """Samples a rollout's responses with a colocated vLLM engine that holds the actor's current weights."""

    def __init__(self, config: PPOConfig, actor, accelerator, tokenizer, generation_kwargs: dict, eos_token_id: int):
        """`actor`: the bare actor (not its DDP/DeepSpeed/compile wrapper), whose
        `name_or_path` vLLM first loads and whose weights it takes before each rollout."""
        require("vllm")
        from trl.generation.vllm_generation import VLLMGeneration

        register_xuanyuan_with_vllm()
        settings = sampling_settings(generation_kwargs, actor.generation_config)
        self.per_prompt = settings.pop("n")
        self.pad_token_id = tokenizer.pad_token_id
        self.engine = VLLMGeneration(
            model=actor,
            accelerator=accelerator,
            processing_class=tokenizer,
            mode="colocate",
            tensor_parallel_size=config.vllm_tensor_parallel_size,
            gpu_memory_utilization=config.vllm_gpu_memory_utilization,
            max_model_length=config.vllm_max_model_length,
            enable_sleep_mode=config.vllm_enable_sleep_mode,
            model_impl="vllm",
            max_completion_length=settings.pop("max_tokens"),
            logprobs=None,  # PPO recomputes log-probs with a forward pass
            generation_kwargs={"stop_token_ids": [eos_token_id]},  # the EOS `generate` is given
            **settings,
        )

    def responses(self, prompts: list[list[int]]) -> torch.Tensor:
        """(B·n, R) responses to the (unpadded) prompts, n per prompt in prompt order, from the actor's weights now."""
        self.engine.sync_weights()
        repeated = [prompt for prompt in prompts for _ in range(self.per_prompt)]
        _, completions, _, _ = self.engine.generate(repeated, None, self.per_prompt)
        return completions_to_responses(completions, self.pad_token_id)
