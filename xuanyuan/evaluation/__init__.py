"""Evaluation: perplexity; multiple-choice exams (C-Eval, CMMLU, FinanceIQ); reward-model and generation reports."""

from .mc_eval import MCEvalConfig, run_mc_eval
from .perplexity import PerplexityResult, evaluate_perplexity

__all__ = ["MCEvalConfig", "PerplexityResult", "evaluate_perplexity", "run_mc_eval"]
