"""XuanYuan decoder models built from transformers' Llama blocks.

The published XuanYuan checkpoints are LLaMA-architecture models, so every layer here *is*
transformers' Llama layer: sdpa / flash attention, KV cache, `generate`, gradient checkpointing,
PEFT and DeepSpeed all work unchanged, and Llama checkpoints load with identical logits.
What XuanYuan adds over Llama:
- `XuanYuanConfig` (`model_type="xuanyuan"`, XuanYuan-6B defaults and named size presets);
- `XuanYuanForSequenceClassification` returns, besides the pooled score, the per-token `token_scores`
  that the token-level reward loss and the PPO critic need (not `values`: a ModelOutput is a dict, and a
  field of that name hides `dict.values()`, which DeepSpeed's engine calls on every output);
- checkpoints carry `auto_map` and this file, so they load with `trust_remote_code=True` anywhere.

Like the config, this file is copied beside saved checkpoints: it imports only torch, transformers
and its sibling `configuration_xuanyuan`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import LlamaForCausalLM, LlamaModel, LlamaPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutputWithPast

from .configuration_xuanyuan import XuanYuanConfig


class XuanYuanPreTrainedModel(LlamaPreTrainedModel):
    config: XuanYuanConfig
    config_class = XuanYuanConfig


class XuanYuanModel(XuanYuanPreTrainedModel, LlamaModel):
    """The bare decoder: embeddings, Llama decoder layers, final RMSNorm."""


class XuanYuanForCausalLM(XuanYuanPreTrainedModel, LlamaForCausalLM):
    """Decoder + untied LM head; the base, SFT and chat models."""

    def __init__(self, config: XuanYuanConfig):
        # Skip LlamaForCausalLM.__init__ so the inner module is a XuanYuanModel.
        super(LlamaForCausalLM, self).__init__(config)
        self.model = XuanYuanModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()


@dataclass
class XuanYuanSequenceClassifierOutput(SequenceClassifierOutputWithPast):
    """`logits`: the score pooled at each sequence's last real token, shape (batch, num_labels).
    `token_scores`: the score head applied to every position, shape (batch, seq_len) when num_labels == 1,
    else (batch, seq_len, num_labels)."""

    token_scores: torch.FloatTensor | None = None


class XuanYuanForSequenceClassification(XuanYuanPreTrainedModel):
    """Decoder + linear score head: the reward model (`num_labels=1`) and the PPO critic."""

    def __init__(self, config: XuanYuanConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = XuanYuanModel(config)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> XuanYuanSequenceClassifierOutput:
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        token_scores = self.score(outputs.last_hidden_state)
        last = last_token_index(input_ids, attention_mask, self.config.pad_token_id, token_scores)
        pooled = token_scores[torch.arange(token_scores.shape[0], device=token_scores.device), last]

        loss = None
        if labels is not None:
            loss = self.loss_function(logits=token_scores, labels=labels, pooled_logits=pooled, config=self.config)
        return XuanYuanSequenceClassifierOutput(
            loss=loss,
            logits=pooled,
            token_scores=token_scores.squeeze(-1) if self.num_labels == 1 else token_scores,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


def last_token_index(
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    pad_token_id: int | None,
    token_scores: torch.Tensor,
) -> torch.Tensor:
    """Index of each row's rightmost real token (works for left and right padding).

    Real tokens are those with attention_mask 1, else those that are not `pad_token_id`; with
    neither, the last position. `token_scores` (batch, seq_len, ...) gives the shape and device.
    """
    batch, length = token_scores.shape[:2]
    if attention_mask is not None:
        real = attention_mask.bool()
    elif input_ids is not None and pad_token_id is not None:
        real = input_ids != pad_token_id
    else:
        return torch.full((batch,), length - 1, dtype=torch.long, device=token_scores.device)
    positions = torch.arange(length, device=real.device).expand(batch, length)
    return torch.where(real, positions, -1).amax(dim=-1).clamp(min=0)


__all__ = [
    "XuanYuanForCausalLM",
    "XuanYuanForSequenceClassification",
    "XuanYuanModel",
    "XuanYuanPreTrainedModel",
    "XuanYuanSequenceClassifierOutput",
]
