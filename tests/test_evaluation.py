"""Perplexity evaluation against an independent per-window reference."""

import math

import pytest
import torch

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.evaluation.perplexity import evaluate_perplexity, summed_nll, token_windows
from xuanyuan.tokenization import train_bpe_tokenizer

TEXTS = [
    "招商银行2023年净利润1466亿元。",
    "The P/E ratio is price divided by earnings per share.",
    "久期越长，利率风险越大。" * 9,
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(TEXTS * 10, vocab_size=300)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    config = XuanYuanConfig(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=4)  # fmt: skip
    return XuanYuanForCausalLM(config).eval()


def test_windows_wrap_documents_in_bos_eos_and_respect_max_length(tokenizer):
    windows = token_windows(tokenizer, TEXTS, max_length=16)
    assert all(1 < len(w) <= 16 for w in windows)
    flat = [t for w in windows for t in w]
    assert flat.count(tokenizer.bos_token_id) == len(TEXTS) == flat.count(tokenizer.eos_token_id)
    total = sum(len(ids) + 1 for ids in tokenizer(TEXTS)["input_ids"])
    assert len(flat) == total


def test_batched_nll_equals_one_window_at_a_time(model, tokenizer):
    windows = token_windows(tokenizer, TEXTS, max_length=16)
    batched, tokens = summed_nll(model, windows, batch_size=3, pad_token_id=tokenizer.pad_token_id)
    reference = 0.0
    with torch.no_grad():
        for window in windows:
            ids = torch.tensor([window])
            reference += model(input_ids=ids, labels=ids).loss.item() * (len(window) - 1)
    assert tokens == sum(len(w) - 1 for w in windows)
    assert batched == pytest.approx(reference, rel=1e-5)


def test_result_fields_are_consistent(model, tokenizer):
    result = evaluate_perplexity(model, tokenizer, TEXTS, max_length=32, batch_size=2)
    assert result.perplexity == pytest.approx(math.exp(result.nll_per_token))
    nll_total = result.nll_per_token * result.num_predicted_tokens
    assert result.bits_per_byte == pytest.approx(nll_total / math.log(2) / sum(len(t.encode()) for t in TEXTS))
    # An untrained model is close to uniform over its 320 logits.
    assert 100 < result.perplexity < 1000
