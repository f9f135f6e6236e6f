"""Quiet third-party noise: messages that tell a user of these recipes nothing, silenced at their source.

Every filter names the exact source — the logger, or the module that raises the warning — and the message,
so other messages of the same library, every warning category in general and anything from `xuanyuan`
stay visible. `XUANYUAN_VERBOSE=1` installs nothing.

Call `quiet_third_party()` before the noisy libraries are imported: torchao (imported by transformers'
quantizers, i.e. by `transformers.modeling_utils`, `trl`, `peft`) logs its two messages and torch its two
pytree warnings while they import, bitsandbytes and DeepSpeed log theirs on import as well. `import
xuanyuan` calls it first, so a script whose first import comes from `xuanyuan` is quiet from its first line.
This module imports only the standard library; transformers' progress bars are switched off right after
something else imports transformers.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import warnings

from .post_import import call_after_import

# logger name → message (regex, matched at the start) of records that carry no information here.
_LOG_NOISE = {
    # torchao 0.18's CUDA-only kernel libraries (and one built for Python 3.10) on a CPU machine
    "torchao": r"Failed to load \S+/torchao/_C\S*\.so: ",
    # torch 2.13 deprecates registering enums as pytree constants; torchao still registers these two
    "torch.utils._pytree": r"<enum '(KernelPreference|ScaleCalculationMode)'> is an Enum subclass",
    # bitsandbytes 0.50 tries an optional CPU 4-bit kernel from the Hub (`kernels`) and falls back
    "bitsandbytes.backends.cpu.ops": r"Failed to load CPU gemm_4bit_forward from kernels-community",
    # LLM.int8 always computes in float16; bitsandbytes says so on every forward of every 8-bit layer
    "bitsandbytes.autograd._functions": r"MatMul8bitLt: inputs will be cast from \S+ to float16",
    # DeepSpeed on a machine without GPU: the device the run uses is reported by our own output
    "DeepSpeed": r"Setting accelerator to CPU\. If you have GPU",
    # a GPTQ checkpoint reloaded through transformers has no `loss_type`; the default it picks is the right one
    "transformers.modeling_utils": r"`loss_type=None` was set in the config but it is unrecognized\. Using the "
    r"default loss: `ForCausalLMLoss`",
}
_LOG_NOISE_PATTERNS = {name: re.compile(pattern) for name, pattern in _LOG_NOISE.items()}
# (category, message, source module) of warnings that carry no information here; both regexes match at
# the start, the module one to its end.
_WARNING_NOISE = (
    # gptqmodel 7.6 resets `config.rope_scaling` and reads `model.is_gradient_checkpointing`, deprecated in
    # transformers 5; both warnings are raised inside transformers (stacklevel 1)
    (FutureWarning, r"`rope_scaling` is deprecated", r"transformers\.configuration_utils"),
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated", r"transformers\.modeling_utils"),
)
# gptqmodel's tokenizer fixer calls `logging.basicConfig(level=INFO)` on import, so its INFO reaches the console
_CHATTY_LOGGER = "tokenicer"
# gptqmodel logs through LogBar's shared `logbar` logger (banner, per-module tables, generation configs at
# INFO). `LogBar.shared()` sets it to INFO when it creates it (gptqmodel's import does), so its level can
# only be lowered after that: call `quiet_third_party()` again once gptqmodel is imported.
_LOGBAR_LOGGER = "logbar"
# Documented switches for per-item progress bars, read from the environment when the library is imported
# (datasets) or draws (LogBar's headless mode: no bars under `TERM=dumb`; gptqmodel's per-layer progress).
_NO_BARS_ENVIRONMENT = {"TERM": "dumb", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def _drop_noise(record: logging.LogRecord) -> bool:
    pattern = _LOG_NOISE_PATTERNS.get(record.name)
    return pattern is None or not pattern.match(record.getMessage())


def _no_bar(factory, args, kwargs):
    return factory(*args, **{**kwargs, "disable": True})


def _verbose(verbose: bool | None) -> bool:
    return os.environ.get("XUANYUAN_VERBOSE") == "1" if verbose is None else verbose


def quiet_third_party(verbose: bool | None = None) -> None:
    """Silence the third-party noise listed above, unless `verbose` (default: `XUANYUAN_VERBOSE=1`).

    Also turns off per-item progress bars of libraries when the output is not a terminal (a log file or a
    pipe, where nobody watches them redraw): transformers' own bars (loading/writing weights; Hub downloads
    keep theirs), datasets' (`map` over examples) and gptqmodel's per-layer bars (LogBar). The last two
    are switched through the environment (`_NO_BARS_ENVIRONMENT`), which the processes this one starts
    inherit. The Trainer's training progress is not touched. Idempotent.
    """
    if _verbose(verbose):
        return
    for name in _LOG_NOISE:
        logging.getLogger(name).addFilter(_drop_noise)  # the same function each time: added once
    for category, message, module in _WARNING_NOISE:
        warnings.filterwarnings("ignore", message, category, module + r"\Z")  # replaces an identical filter
    logging.getLogger(_CHATTY_LOGGER).setLevel(logging.WARNING)
    if isinstance(logbar := logging.root.manager.loggerDict.get(_LOGBAR_LOGGER), logging.Logger):
        logbar.setLevel(logging.WARNING)
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        call_after_import("transformers", _no_transformers_bars)  # not now: importing it costs seconds
        os.environ.update(_NO_BARS_ENVIRONMENT)
        if "datasets" in sys.modules:  # imported before the variable was set
            sys.modules["datasets"].disable_progress_bars()


def _no_transformers_bars() -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_tqdm_hook(_no_bar)


def silenced_stdout(verbose: bool | None = None) -> contextlib.AbstractContextManager:
    """Drop what a third-party call prints to stdout when it has no switch for it (unless `verbose`)."""
    return contextlib.nullcontext() if _verbose(verbose) else contextlib.redirect_stdout(io.StringIO())


def quiet_environment() -> dict[str, str]:
    """Environment variables for stage subprocesses whose output goes to a log file.

    Set from the start, they also switch off the progress bars of libraries that a script imports before
    it calls `quiet_third_party()`.
    """
    return dict(_NO_BARS_ENVIRONMENT)
