"""The prefix-cached batched scorer equals the per-question reference; both equal hand-rolled log-likelihoods."""

import pytest
import torch
import torch.nn.functional as F

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.evaluation.mc_data import MCQuestion, MCSubject
from xuanyuan.evaluation.mc_prompts import STYLES
from xuanyuan.evaluation.mc_requests import build_requests
from xuanyuan.evaluation.mc_scoring import common_prefix_length, score_cached, score_reference
from xuanyuan.tokenization import load_tokenizer

OPTIONS = [
    ("资产", "负债", "利润", "收入"),
    ("1.5%", "20.3亿元", "上海证券交易所", "市盈率"),
    ("甲", "乙乙乙", "丙", "丁丁"),
]
DEV = [MCQuestion(str(i), f"示例问题{i}：下列说法正确的是", OPTIONS[i % 3], "ABCD"[i % 4]) for i in range(5)]
QUESTIONS = [
    MCQuestion(str(i), f"第{i}题" + "，已知某公司营业收入增长" * (i % 4), OPTIONS[i % 3], "ABCD"[(i * 3) % 4])
    for i in range(7)
] + [  # fill-in-the-blank questions: the blank formulation scores `option + rest` after the text before the blank
    MCQuestion("7", "某公司于____在上海证券交易所上市。", OPTIONS[1], "B"),
    MCQuestion("8", "资产负债率 = 负债总额 ÷ ____ × 100%", OPTIONS[0], "A"),
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    config = XuanYuanConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, initializer_range=0.2,
                            max_position_embeddings=1024)  # fmt: skip
    return XuanYuanForCausalLM(config).eval()


@pytest.fixture(scope="module")
def references(model, tokenizer):
    """scoring -> (requests, reference scores), computed once: the reference is the slow part."""
    found = {}
    for scoring in ("letter", "cloze", "blank"):
        requests = requests_for(tokenizer, scoring)
        found[scoring] = requests, score_reference(model, requests, scoring)
    return found


def requests_for(tokenizer, scoring, chat=False, max_length=None, style="ceval"):
    subject = MCSubject("accountant", "注册会计师", ("Other",), DEV, QUESTIONS)
    return build_requests(tokenizer, STYLES[style], subject, 5, scoring, chat, max_length)


def test_common_prefix_leaves_every_sequence_a_token():
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5, 6], [1, 2, 3, 4, 7]]) == 3
    assert common_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2
    assert common_prefix_length([[5, 6], [7, 6]]) == 0


@pytest.mark.parametrize("scoring", ["letter", "cloze", "blank"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_cached_batched_equals_per_question_reference(model, tokenizer, references, scoring, padding_side, batch_size):
    requests, reference = references[scoring]
    fast = score_cached(model, requests, scoring, batch_size, padding_side, tokenizer.pad_token_id)
    assert torch.equal(fast.argmax(-1), reference.argmax(-1))
    assert (fast - reference).abs().max() < 1e-4
    assert len(set(reference.argmax(-1).tolist())) > 1  # the random model does not answer one letter throughout


@pytest.mark.parametrize("scoring", ["letter", "cloze", "blank"])
def test_chat_mode_and_dropped_shots_match_the_reference(model, tokenizer, scoring):
    """Chat mode (multi-token ` B`) and a max_length that drops shots for the longer questions (two prefixes)."""
    full = requests_for(tokenizer, scoring, chat=True, style="cmmlu")
    limit = sorted(r.fed_length for r in full)[3]
    requests = requests_for(tokenizer, scoring, chat=True, max_length=limit, style="cmmlu")
    assert all(r.fed_length <= limit for r in requests)
    assert len({r.num_shots for r in requests}) > 1
    reference = score_reference(model, requests, scoring)
    fast = score_cached(model, requests, scoring, 4, "left", tokenizer.pad_token_id)
    assert (fast - reference).abs().max() < 1e-4


def test_letter_scores_are_the_official_next_token_comparison(model, tokenizer, references):
    """Softmax over the four letters' log-probs == softmax over their next-token logits on the full prompt."""
    requests, scores = references["letter"]
    probabilities = scores.softmax(-1)
    letters = [tokenizer.convert_tokens_to_ids(letter) for letter in "ABCD"]
    for request, row in zip(requests, probabilities, strict=True):
        with torch.no_grad():
            logits = model(torch.tensor([request.context_ids])).logits[0, -1]
        assert torch.allclose(logits[letters].softmax(-1), row, atol=1e-5)


@pytest.mark.parametrize(
    ("scoring", "picked", "continuation"),
    [
        ("cloze", [0, 1, 2], lambda question, option: option),
        ("blank", [7, 8], lambda question, option: option + question.question.split("____")[1]),
    ],
)
def test_cloze_and_blank_scores_equal_a_slow_token_by_token_reference(model, tokenizer, scoring, picked, continuation):
    """Each option scored alone, one token at a time: sum of log P(token | everything before) / characters,
    where the continuation is the option's text (cloze) or the option and the rest after the blank (blank)."""
    requests = [requests_for(tokenizer, scoring)[i] for i in picked]
    fast = score_cached(model, requests, scoring, 2, "left", 0)
    for request, question, row in zip(requests, [QUESTIONS[i] for i in picked], fast, strict=True):
        for option, text in enumerate(continuation(question, o) for o in question.options):
            ids = request.context_ids + request.continuation_ids[option]
            total = 0.0
            for position in range(len(request.context_ids), len(ids)):
                with torch.no_grad():
                    logits = model(torch.tensor([ids[:position]])).logits[0, -1]
                total += F.log_softmax(logits, -1)[ids[position]].item()
            assert tokenizer.decode(request.continuation_ids[option]) == text
            assert row[option].item() == pytest.approx(total / len(text), abs=1e-4)


def test_batches_run_on_repeats_of_the_prefix_cache_without_copying_or_changing_it(model, monkeypatch):
    import copy

    from xuanyuan.evaluation.mc_scoring import encode_prefix, forward_on_prefix

    monkeypatch.setattr(copy, "deepcopy", lambda *_: pytest.fail("the prefix cache was deep-copied"))
    prefix, rows = [5, 6, 7, 8], [[9, 10, 11], [12, 13]]
    cache = encode_prefix(model, prefix)
    before = [(layer.keys, layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
    logits, starts = forward_on_prefix(model, cache, len(prefix), rows, "right", pad_token_id=0)
    for layer, (keys, keys_copy, values_copy) in zip(cache.layers, before, strict=True):
        assert layer.keys is keys and torch.equal(layer.keys, keys_copy) and torch.equal(layer.values, values_copy)
    with torch.no_grad():  # each row after the prefix, alone and uncached
        for row, start, row_logits in zip(rows, starts, logits, strict=True):
            full = model(input_ids=torch.tensor([prefix + row])).logits[0, len(prefix) :].float()
            torch.testing.assert_close(row_logits[start : start + len(row)], full, rtol=1e-4, atol=1e-4)
