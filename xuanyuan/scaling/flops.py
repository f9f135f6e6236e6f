"""Parameter counts, model FLOPs per token and model FLOPs utilization (MFU) of a XuanYuan (LLaMA) decoder.

FLOPs per token follow the PaLM paper's MFU accounting (Chowdhery et al. 2022, appendix B): a training step
costs 6·N FLOPs per token for the matmuls (2 forward, 4 backward) plus 12·L·h·s for attention scores and
their weighting (L layers, hidden h, sequence s; causal masking not subtracted). N counts the parameters that
take part in a matmul: every parameter but the input-embedding table, which is a lookup (the untied LM head
is a matmul and counts). A forward pass alone costs a third: 2·N + 4·L·h·s. Recomputation under activation
checkpointing is not model FLOPs and is not counted, as MFU defines it.
"""

from __future__ import annotations

# Peak dense bf16 tensor-core throughput (TFLOP/s, no sparsity) from NVIDIA's data sheets, matched as a
# substring of `torch.cuda.get_device_name()`; more specific names come first.
PEAK_BF16_TFLOPS: dict[str, float] = {
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,
    "H200": 989.0,
    "H800": 989.0,
    "A100": 312.0,
    "A800": 312.0,
}


def peak_tflops(device_name: str) -> float:
    """The bf16 dense peak of the GPU called `device_name`; a `KeyError` naming the known GPUs otherwise."""
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key in device_name:
            return tflops
    raise KeyError(f"no bf16 peak known for {device_name!r} (known: {', '.join(PEAK_BF16_TFLOPS)}); pass it")


def layer_parameters(config) -> int:
    """Parameters of one decoder layer (attention, SwiGLU MLP, two RMSNorms)."""
    hidden, heads = config.hidden_size, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv_heads = config.num_key_value_heads or heads
    q_and_o = 2 * hidden * heads * head_dim
    k_and_v = 2 * hidden * kv_heads * head_dim
    mlp = 3 * hidden * config.intermediate_size
    biases = (heads + 2 * kv_heads) * head_dim + hidden if getattr(config, "attention_bias", False) else 0
    biases += 2 * config.intermediate_size + hidden if getattr(config, "mlp_bias", False) else 0
    return q_and_o + k_and_v + mlp + biases + 2 * hidden  # + the two RMSNorm weights


def parameter_count(config, head: str = "lm") -> int:
    """All parameters of a XuanYuan model: `head="lm"` the causal LM, `"score"` the reward model / critic."""
    embedding = config.vocab_size * config.hidden_size
    return embedding + matmul_parameters(config, head)


def matmul_parameters(config, head: str = "lm") -> int:
    """N of the FLOPs formulas: every parameter but the input embeddings (decoder layers, final norm, head)."""
    if head == "lm":
        head_parameters = 0 if config.tie_word_embeddings else config.vocab_size * config.hidden_size
    elif head == "score":
        head_parameters = config.hidden_size * config.num_labels
    else:
        raise ValueError(f"head must be 'lm' or 'score', got {head!r}")
    return config.num_hidden_layers * layer_parameters(config) + config.hidden_size + head_parameters


def forward_flops_per_token(config, seq_len: int, head: str = "lm") -> float:
    """Model FLOPs of one forward pass per token at sequence length `seq_len`: 2·N + 4·L·h·s."""
    attention = 4 * config.num_hidden_layers * config.hidden_size * seq_len
    return 2 * matmul_parameters(config, head) + attention


def training_flops_per_token(config, seq_len: int, head: str = "lm") -> float:
    """Model FLOPs of one training token (forward + backward): 6·N + 12·L·h·s."""
    return 3 * forward_flops_per_token(config, seq_len, head)


def mfu(flops: float, seconds: float, peak_flops_per_second: float) -> float:
    """Model FLOPs utilization: the share of the hardware's peak that `flops` done in `seconds` amount to."""
    return flops / seconds / peak_flops_per_second


def ppo_step_flops(
    actor_config, critic_config, rows: int, prompt_len: int, response_len: int, ppo_epochs: int = 1
) -> float:
    """Model FLOPs of one PPO step over `rows` prompts (the project's trainer, `xuanyuan.training.ppo`):
    sampling `response_len` tokens (a forward per generated token, attending to the whole sequence at most),
    four scoring forwards over prompt + response (actor, reference, critic, reward model) and, per PPO
    epoch, a training pass of actor and critic over prompt + response."""
    seq_len = prompt_len + response_len
    actor_forward = forward_flops_per_token(actor_config, seq_len, "lm")
    critic_forward = forward_flops_per_token(critic_config, seq_len, "score")
    generation = rows * response_len * actor_forward
    scoring = rows * seq_len * 2 * (actor_forward + critic_forward)
    updates = ppo_epochs * rows * seq_len * 3 * (actor_forward + critic_forward)
    return generation + scoring + updates


def tokens_per_second(flops_per_token: float, peak_tflops: float, utilization: float) -> float:
    """Tokens per second one GPU of peak `peak_tflops` trains at the model FLOPs utilization `utilization`."""
    return utilization * peak_tflops * 1e12 / flops_per_token
