"""How closely a quantized model's next-token distributions follow the original's on the same tokens."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logit_agreement(reference: torch.Tensor, quantized: torch.Tensor) -> dict[str, float]:
    """Compare two `(tokens, vocab)` logit matrices of the same inputs.

    - `kl_mean` / `kl_max`: KL(P_reference || P_quantized) per token (nats), mean and worst token;
    - `relative_l2`: ||quantized - reference|| / ||reference|| over all logits (Frobenius norms);
    - `top1_agreement`: fraction of tokens whose argmax is the same.
    """
    if reference.shape != quantized.shape or reference.dim() != 2:
        raise ValueError(f"expected two equal (tokens, vocab) shapes, got {reference.shape} and {quantized.shape}")
    reference, quantized = reference.double(), quantized.double()
    log_p, log_q = F.log_softmax(reference, dim=-1), F.log_softmax(quantized, dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)
    return {
        "kl_mean": kl.mean().item(),
        "kl_max": kl.max().item(),
        "relative_l2": (torch.linalg.norm(quantized - reference) / torch.linalg.norm(reference)).item(),
        "top1_agreement": (reference.argmax(-1) == quantized.argmax(-1)).double().mean().item(),
        "num_tokens": reference.shape[0],
    }
