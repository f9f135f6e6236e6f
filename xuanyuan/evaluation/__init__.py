"""Evaluation: perplexity now; multiple-choice exams, reward-model and generation reports later."""

from .perplexity import PerplexityResult, evaluate_perplexity

__all__ = ["PerplexityResult", "evaluate_perplexity"]
