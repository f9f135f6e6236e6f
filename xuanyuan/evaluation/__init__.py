"""Evaluation: perplexity; multiple-choice exams (C-Eval, CMMLU, FinanceIQ); reward-model and generation reports.

The names below load on first use, so that `mc_eval` (the exam scripts' `--help`) imports without torch.
"""

import importlib

_SOURCES = {
    "MCEvalConfig": "mc_eval",
    "PerplexityResult": "perplexity",
    "evaluate_perplexity": "perplexity",
    "run_mc_eval": "mc_eval",
}
__all__ = list(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
