"""Generation metrics on Chinese strings against values derived by hand."""

from __future__ import annotations

import math

import pytest
import sacrebleu

from xuanyuan.evaluation.generation_metrics import (
    ChineseTokenizer,
    average_precision,
    corpus_bleu,
    generation_metrics,
    ranking_metrics,
    reciprocal_rank,
    rouge,
)

PRED, REF = "今天天气很好", "今天天气不错"


def test_bleu_on_chinese_characters_by_hand():
    # Characters 今 天 天 气 很 好 vs 今 天 天 气 不 错: n-gram precisions 4/6, 3/5, 2/4, 1/3; equal lengths, BP = 1.
    expected = 100 * (4 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert corpus_bleu([PRED], [REF]) == pytest.approx(expected)
    # The reason for tokenize="zh": the default tokenizer sees one word per sentence.
    assert sacrebleu.corpus_bleu([PRED], [[REF]]).score == 0.0
    assert corpus_bleu([REF], [REF]) == pytest.approx(100.0)


def test_bleu_is_a_corpus_statistic_not_a_mean():
    # Pooled counts: 1-grams (4+3)/(6+3), 2-grams (3+2)/(5+2), 3-grams (2+1)/(4+1), 4-grams 1/(3+0); BP = 1.
    second_pred, second_ref = "利率低", "利率低"
    expected = 100 * (7 / 9 * 5 / 7 * 3 / 5 * 1 / 3) ** 0.25
    assert corpus_bleu([PRED, second_pred], [REF, second_ref]) == pytest.approx(expected)


def test_rouge_over_characters_by_hand():
    scores = rouge([PRED + "。"], [REF], tokenizer="char")  # punctuation is not a token
    assert scores["rouge1"] == pytest.approx(4 / 6)  # clipped overlap 今 天 天 气 = 4 of 6 each side
    assert scores["rouge2"] == pytest.approx(3 / 5)  # 今天 天天 天气
    assert scores["rougeL"] == pytest.approx(4 / 6)  # LCS 今天天气


def test_rouge_over_jieba_words_by_hand():
    tokenizer = ChineseTokenizer("jieba")
    assert tokenizer.tokenize(PRED) == ["今天天气", "很", "好"] and tokenizer.tokenize(REF) == ["今天天气", "不错"]
    scores = rouge([PRED], [REF], tokenizer="jieba")
    # one shared word: P = 1/3, R = 1/2, F = 2PR/(P+R) = 0.4; no shared bigram; LCS = 1 word
    assert scores["rouge1"] == pytest.approx(0.4) and scores["rougeL"] == pytest.approx(0.4)
    assert scores["rouge2"] == 0.0


def test_rouge_averages_examples_and_default_tokenizers_would_score_zero():
    scores = rouge([PRED, "利率低"], [REF, "利率低"], tokenizer="char")
    assert scores["rouge1"] == pytest.approx((4 / 6 + 1) / 2)
    from rouge_score import rouge_scorer

    assert rouge_scorer.RougeScorer(["rouge1"]).score(REF, REF)["rouge1"].fmeasure == 0.0


def test_reciprocal_rank_and_average_precision_by_hand():
    ranked = ["平安银行", "招商银行", "兴业银行"]
    assert reciprocal_rank(ranked, {"招商银行"}) == 0.5
    assert reciprocal_rank(ranked, {"工商银行"}) == 0.0
    # hits at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision(ranked, {"平安银行", "兴业银行"}) == pytest.approx(5 / 6)
    # a relevant answer never retrieved still counts in the denominator: (1/2) / 2
    assert average_precision(ranked, {"招商银行", "工商银行"}) == pytest.approx(1 / 4)
    assert average_precision(["招商银行", "招商银行"], {"招商银行"}) == 1.0
    with pytest.raises(ValueError):
        average_precision(ranked, set())


def test_mrr_and_map_over_queries_by_hand():
    rankings = [["乙", "甲", "丙"], ["子", "丑"], ["天", "地", "人"]]
    relevant = [{"甲"}, {"寅"}, {"天", "人"}]
    metrics = ranking_metrics(rankings, relevant)
    assert metrics["mrr"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert metrics["map"] == pytest.approx((1 / 2 + 0 + 5 / 6) / 3) and metrics["num_queries"] == 3


def test_generation_metrics_bundle_and_length_mismatch():
    metrics = generation_metrics([PRED], [REF], tokenizer="char")
    assert metrics["num_examples"] == 1 and math.isclose(metrics["rouge2"], 0.6)
    assert metrics["bleu"] == pytest.approx(corpus_bleu([PRED], [REF]))
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        generation_metrics([PRED, PRED], [REF])
