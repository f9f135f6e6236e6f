"""Per-GPU training memory of a XuanYuan model under data-parallel sharding (ZeRO-2, ZeRO-3, FSDP).

Model states, mixed-precision Adam: 16 bytes per trained parameter, split by strategy (`STRATEGIES`).
DeepSpeed holds bf16 weights and gradients (2 + 2) and an fp32 master copy with two fp32 moments (12);
accelerate's FSDP upcasts trainable weights to fp32 under mixed precision, so it holds fp32 weights and
gradients (4 + 4) and the two moments (8), computing with per-layer bf16 copies. Frozen models (the PPO
reference and reward model) are bf16 weights only, sharded where the strategy shards weights.

Activations per decoder layer follow Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models": s·b·h·(34 + 5·a·s/h) bytes in 16-bit for one layer without tensor parallelism; sdpa and
flash attention never store the a·s² score matrices, so the estimate here is 34·s·b·h. With activation
checkpointing a layer keeps only its bf16 input (2·s·b·h) and one layer's full set is rebuilt at a time.
Logits: 14 bytes per (row, position, vocab entry) at the start of the backward pass: the bf16 logits (2),
the fp32 log-softmax the loss keeps (4) and two fp32 tensors of the same shape while the loss runs and
differentiates (8). Temporary buffers, fragmentation and the CUDA context (~1-3 GiB) are not counted.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from .flops import layer_parameters, parameter_count

GIB = 2**30


@dataclass(frozen=True)
class Strategy:
    """Bytes per trained parameter for weights, gradients and optimizer, and which of them are split N ways."""

    label: str
    weight_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    shards_weights: bool
    shards_grads: bool
    shards_optimizer: bool = True


STRATEGIES: dict[str, Strategy] = {
    "zero2": Strategy("ZeRO-2", 2, 2, 12, shards_weights=False, shards_grads=True),
    "zero3": Strategy("ZeRO-3", 2, 2, 12, shards_weights=True, shards_grads=True),
    "fsdp": Strategy("FSDP full shard", 4, 4, 8, shards_weights=True, shards_grads=True),
    # One process, fp32 weights under torch.autocast (benchmarks/gpu_check.py): the 4 fp32 weight bytes plus
    # the bf16 copies autocast makes for the backward pass (2).
    "single": Strategy("one GPU, fp32 + autocast", 6, 4, 8, False, False, shards_optimizer=False),
}


@dataclass(frozen=True)
class ModelStates:
    """Bytes per GPU of models' weights, gradients and optimizer state."""

    weights: float
    grads: float
    optimizer: float

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer

    def __add__(self, other: ModelStates) -> ModelStates:
        return ModelStates(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def gathered_bytes(config) -> float:
    """bf16 weights a sharding strategy holds whole while computing: the embedding and LM head (the root
    unit stays gathered) plus the layer being computed and the one prefetched."""
    return 2 * (2 * config.vocab_size * config.hidden_size + 2 * layer_parameters(config))


def model_states(config, strategy: Strategy, world_size: int, head: str = "lm", trained: bool = True) -> ModelStates:
    """One model's states per GPU. A frozen model (`trained=False`) is bf16 weights only."""
    params = parameter_count(config, head)
    weights = (strategy.weight_bytes if trained else 2) * params / (world_size if strategy.shards_weights else 1)
    if not trained:
        return ModelStates(weights, 0.0, 0.0)
    return ModelStates(
        weights=weights,
        grads=strategy.grad_bytes * params / (world_size if strategy.shards_grads else 1),
        optimizer=strategy.optimizer_bytes * params / (world_size if strategy.shards_optimizer else 1),
    )


def activation_bytes(config, rows: int, seq_len: int, checkpointing: bool) -> float:
    """Activations kept for the backward pass of one micro-batch (Korthikanti et al., flash/sdpa attention)."""
    tokens_by_hidden = rows * seq_len * config.hidden_size
    full_layer = 34 * tokens_by_hidden
    if checkpointing:
        return config.num_hidden_layers * 2 * tokens_by_hidden + full_layer
    return config.num_hidden_layers * full_layer


def logits_bytes(config, rows: int, seq_len: int) -> float:
    """Peak memory of the LM head's logits and the loss over them (see the module docstring)."""
    return 14 * rows * seq_len * config.vocab_size


def kv_cache_bytes(config, rows: int, seq_len: int) -> float:
    """bf16 keys and values of every layer for `rows` sequences of `seq_len` tokens (generation)."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_heads = config.num_key_value_heads or config.num_attention_heads
    return 2 * 2 * config.num_hidden_layers * rows * seq_len * kv_heads * head_dim


@dataclass(frozen=True)
class StageMemory:
    """Bytes per GPU of one training stage. `work` is what the step adds to the model states at its peak:
    gathered weights, activations and logits of a training micro-batch or, for PPO's rollout, the whole
    gathered actor and the KV cache, whichever is larger."""

    states: ModelStates
    gathered: float
    activations: float
    logits: float
    rollout: float = 0.0

    @property
    def work(self) -> float:
        return max(self.gathered + self.activations + self.logits, self.rollout)

    @property
    def total(self) -> float:
        return self.states.total + self.work


def stage_memory(config, workload, strategy: Strategy, world_size: int, checkpointing: bool) -> StageMemory:
    """Per-GPU memory of one stage (`xuanyuan.scaling.workloads.Workload`). PPO holds four models: actor and
    critic trained, reference and reward model frozen; it trains the actor (the larger of the two) with
    logits, and its rollout generates for `rollout_rows` prompts with the actor's weights whole."""
    sharded = strategy.shards_weights and world_size > 1
    gathered = gathered_bytes(config) if sharded else 0.0
    activations = activation_bytes(config, workload.rows, workload.seq_len, checkpointing)
    logits = logits_bytes(config, workload.rows, workload.seq_len) if workload.head == "lm" else 0.0
    if workload.stage != "ppo":
        return StageMemory(model_states(config, strategy, world_size, workload.head), gathered, activations, logits)
    states = (
        model_states(config, strategy, world_size, "lm")
        + model_states(config, strategy, world_size, "score")
        + model_states(config, strategy, world_size, "lm", trained=False)
        + model_states(config, strategy, world_size, "score", trained=False)
    )
    whole_actor = 2 * parameter_count(config, "lm") if sharded else 0.0
    rollout = whole_actor + kv_cache_bytes(config, workload.rollout_rows, workload.seq_len)
    return StageMemory(states, gathered, activations, logits, rollout)
