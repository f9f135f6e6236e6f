"""Evaluation: perplexity; multiple-choice exams (C-Eval, CMMLU, FinanceIQ); reward-model and generation reports.

The names below load on first use, so that `mc_eval` (the exam scripts' `--help`) imports without torch.
"""

from ..utils.lazy import lazy_exports

_SOURCES = {
    "MCEvalConfig": "mc_eval",
    "PerplexityResult": "perplexity",
    "evaluate_perplexity": "perplexity",
    "run_mc_eval": "mc_eval",
}
__all__ = list(_SOURCES)

__getattr__ = lazy_exports(__name__, _SOURCES)
