"""xuanyuan.utils.quiet: third-party noise is silenced at its source, everything else stays visible."""

import logging
import os
import subprocess
import sys
import warnings

import pytest

from xuanyuan.utils.quiet import quiet_environment, quiet_third_party, silenced_stdout

# Imports the noisy libraries the way a recipe does (`xuanyuan` first), triggers each source's message and,
# for comparison, messages that must stay: the same text from a xuanyuan module, other messages of the
# same sources. Sources that depend on the hardware (bitsandbytes' AVX512-BF16 kernel, DeepSpeed without
# GPU) or would cost a gptqmodel import log through their own logger.
PROBE = r"""
import logging, warnings
import xuanyuan
import torch, bitsandbytes as bnb
import transformers.modeling_utils
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.utils import logging as transformers_logging
import tokenicer.tokenicer
from logbar import LogBar

xuanyuan.utils.quiet.quiet_third_party()  # again, as after gptqmodel's import: LogBar's logger exists now
layer = bnb.nn.Linear8bitLt(64, 64, has_fp16_weights=False).to("cpu").eval()
layer(torch.randn(2, 64, dtype=torch.bfloat16))
config = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=32)
LlamaConfig().rope_scaling = None
model = LlamaForCausalLM(config)
model.is_gradient_checkpointing
model.loss_type = None
model.loss_function
logging.getLogger("bitsandbytes.backends.cpu.ops").warning(
    "Failed to load CPU gemm_4bit_forward from kernels-community: %s.", "No module named 'kernels'"
)
logging.getLogger("DeepSpeed").warning("Setting accelerator to CPU. If you have GPU or other accelerator, ...")
tokenicer.tokenicer.logger.info("Tokenicer: Auto fixed pad_token_id=0 (token='<pad>').")
LogBar.shared().info("QuantizeConfig: offload_to_disk_path auto set")
for _ in LogBar.shared().pb(range(3)).title("per-layer-bar"):
    pass
for _ in transformers_logging.tqdm(range(3), desc="Loading weights"):
    pass
import datasets
datasets.Dataset.from_dict({"x": list(range(50))}).map(lambda row: row, desc="per-example-map")

# must stay
ours = "import warnings; warnings.warn('`rope_scaling` is deprecated (ours)', FutureWarning)"
exec(compile(ours, "ours.py", "exec"), {"__name__": "xuanyuan.modeling.configuration_xuanyuan"})
warnings.warn_explicit("other", FutureWarning, "configuration_utils.py", 1, "transformers.configuration_utils")
logging.getLogger("xuanyuan").warning("Failed to load /x/torchao/_C_ours.so: from xuanyuan")
logging.getLogger("torchao").warning("another torchao warning")
LogBar.shared().warning("a gptqmodel warning")
"""
NOISE = {
    "torchao": "torchao/_C_mxfp8",
    "pytree": "<enum 'KernelPreference'> is an Enum subclass",
    "bnb kernel": "gemm_4bit_forward",
    "bnb 8-bit cast": "MatMul8bitLt: inputs will be cast",
    "rope_scaling": "configuration_utils.py:726: FutureWarning: `rope_scaling` is deprecated",
    "is_gradient_checkpointing": "`is_gradient_checkpointing` is deprecated",
    "loss_type": "`loss_type=None` was set in the config",
    "DeepSpeed": "Setting accelerator to CPU",
    "tokenicer": "Tokenicer: Auto fixed",
    "gptqmodel info": "QuantizeConfig: offload_to_disk_path",
    "LogBar bar": "per-layer-bar",
    "transformers bar": "Loading weights",
    "datasets bar": "per-example-map",
}
KEPT = [
    "ours.py:1: FutureWarning: `rope_scaling` is deprecated (ours)",
    "configuration_utils.py:1: FutureWarning: other",
    "Failed to load /x/torchao/_C_ours.so: from xuanyuan",
    "another torchao warning",
    "a gptqmodel warning",
]


def run_probe(probe: str, **env: str) -> str:
    """`probe`'s output on a pipe, started from a fresh xterm shell: outside pytest and CI (LogBar hides its
    bars under those), without what this (quiet) process put in its environment."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "XUANYUAN_VERBOSE", "CI")) and k not in quiet_environment()
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**environment, "TERM": "xterm", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.slow
def test_third_party_noise_is_silenced_at_its_source_and_shown_when_verbose():
    quiet, verbose = run_probe(PROBE), run_probe(PROBE, XUANYUAN_VERBOSE="1")
    for output in (quiet, verbose):
        for message in KEPT:
            assert message in output
    assert {name: text in quiet for name, text in NOISE.items()} == dict.fromkeys(NOISE, False)
    assert {name: text in verbose for name, text in NOISE.items()} == dict.fromkeys(NOISE, True)


def test_quiet_environment_switches_bars_off_from_the_start():
    """For libraries imported before `quiet_third_party()` runs (or in scripts that never call it)."""
    probe = (
        "import datasets\nfrom logbar import LogBar\n"
        "datasets.Dataset.from_dict({'x': list(range(50))}).map(lambda row: row, desc='per-example-map')\n"
        "for _ in LogBar.shared().pb(range(3)).title('per-layer-bar'):\n    pass\n"
    )
    shown, hidden = run_probe(probe), run_probe(probe, **quiet_environment())
    assert "per-example-map" in shown and "per-layer-bar" in shown
    assert "per-example-map" not in hidden and "per-layer-bar" not in hidden


@pytest.fixture
def restored_logging_and_warnings():
    loggers = {name: logging.getLogger(name) for name in ("torchao", "tokenicer")}
    saved = {name: (logger.filters[:], logger.level) for name, logger in loggers.items()}
    with warnings.catch_warnings():
        yield
    for name, (filters, level) in saved.items():
        loggers[name].filters[:] = filters
        loggers[name].setLevel(level)


def test_idempotent(restored_logging_and_warnings, monkeypatch):
    monkeypatch.delenv("XUANYUAN_VERBOSE", raising=False)
    quiet_third_party()
    state = (warnings.filters[:], logging.getLogger("torchao").filters[:], logging.getLogger("tokenicer").level)
    quiet_third_party()
    quiet_third_party(verbose=False)
    assert (
        warnings.filters[:],
        logging.getLogger("torchao").filters[:],
        logging.getLogger("tokenicer").level,
    ) == state
    assert len(state[1]) == 1 and state[2] == logging.WARNING


def test_verbose_installs_nothing(restored_logging_and_warnings, monkeypatch):
    logging.getLogger("tokenicer").setLevel(logging.NOTSET)
    before = warnings.filters[:]
    monkeypatch.setenv("XUANYUAN_VERBOSE", "1")
    quiet_third_party()
    quiet_third_party(verbose=True)
    assert warnings.filters == before
    assert logging.getLogger("tokenicer").level == logging.NOTSET


@pytest.mark.parametrize("verbose", [False, True])
def test_silenced_stdout_drops_prints_only(capsys, verbose):
    with silenced_stdout(verbose):
        print("Content of saved `config.json`:")
        print("to stderr", file=sys.stderr)
    print("after")
    captured = capsys.readouterr()
    assert captured.out == ("Content of saved `config.json`:\nafter\n" if verbose else "after\n")
    assert captured.err == "to stderr\n"
