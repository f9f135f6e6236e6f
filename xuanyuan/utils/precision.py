"""Choosing the training precision from the hardware: what `bf16: auto` / `fp16: auto` mean in every recipe.

bf16 autocast is fast on CUDA devices that support it and on CPUs with `avx512_bf16` or AMX; on other
CPUs (AVX2-only servers are common) PyTorch emulates it and a training step runs ~20x slower than fp32.
So `auto` picks bf16 only where the hardware has it, fp16 on CUDA devices without bf16 (when `fp16:
auto`), and fp32 everywhere else. No library does this choice for CPUs (accelerate and the Trainer
take the flag as given), hence this module.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import warnings
from dataclasses import dataclass

logger = logging.getLogger(__name__)

AUTO = "auto"
# how a `bf16` / `fp16` / `use_cpu` setting may be written (lowercased) and what it means
SETTING_WORDS = {AUTO: AUTO, "true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
FAST_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) below AVX512_CORE_BF16, and ATen capabilities (ATEN_CPU_CAPABILITY)
# below AVX-512: with either set, bf16 runs emulated even on a CPU that has the instructions.
ONEDNN_ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")
ATEN_CAPABILITIES_WITHOUT_BF16 = ("default", "avx2")
EMULATED_BF16_SLOWDOWN = "about 20x slower than fp32"


@dataclass(frozen=True)
class MachineInfo:
    """What a precision choice depends on, and what a report should state about the machine."""

    device: str  # "cuda", "cpu" or another torch device type
    cpu_model: str
    cpu_flags: frozenset[str]
    cuda_name: str | None = None
    cuda_bf16: bool = False
    threads: int = 1

    @property
    def cpu_bf16_flags(self) -> list[str]:
        """The CPU's fast-bf16 instruction sets (none: bf16 would be emulated)."""
        return sorted(set(FAST_BF16_CPU_FLAGS) & self.cpu_flags)

    def to_dict(self) -> dict:
        return {
            "device": self.device,
            "cpu_model": self.cpu_model,
            "cpu_bf16_flags": self.cpu_bf16_flags,
            "cpu_avx2": "avx2" in self.cpu_flags,
            "cuda_name": self.cuda_name,
            "threads": self.threads,
        }


@dataclass(frozen=True)
class Precision:
    bf16: bool
    fp16: bool
    reason: str

    @property
    def name(self) -> str:
        return "bf16" if self.bf16 else "fp16" if self.fp16 else "fp32"


def isa_capped(environ: dict | None = None) -> str | None:
    """The environment variable that keeps PyTorch from using the CPU's bf16 instructions, if any."""
    environ = os.environ if environ is None else environ
    if environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ONEDNN_ISAS_WITHOUT_BF16:
        return f"ONEDNN_MAX_CPU_ISA={environ['ONEDNN_MAX_CPU_ISA']}"
    if environ.get("ATEN_CPU_CAPABILITY", "").lower() in ATEN_CAPABILITIES_WITHOUT_BF16:
        return f"ATEN_CPU_CAPABILITY={environ['ATEN_CPU_CAPABILITY']}"
    return None


def read_cpu_info(path: str = "/proc/cpuinfo") -> tuple[str, frozenset[str]]:
    """The CPU's model name and feature flags (Linux `/proc/cpuinfo`; elsewhere the platform's name, no flags)."""
    model, flags = platform.processor() or platform.machine(), frozenset()
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and value.strip():
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = frozenset(value.split())
    except OSError:
        pass
    return model, flags


@functools.cache
def detect_machine(use_cpu: bool = False) -> MachineInfo:
    """The machine this process runs on; `use_cpu` ignores any accelerator, as the Trainer's flag does."""
    import torch

    model, flags = read_cpu_info()
    capped = isa_capped()
    if capped:  # the instructions exist but PyTorch is told not to use them
        flags = flags - set(FAST_BF16_CPU_FLAGS)
        model = f"{model} ({capped})"
    on_cuda = not use_cpu and torch.cuda.is_available()
    return MachineInfo(
        device="cuda" if on_cuda else "cpu",
        cpu_model=model,
        cpu_flags=flags,
        cuda_name=torch.cuda.get_device_name() if on_cuda else None,
        cuda_bf16=on_cuda and torch.cuda.is_bf16_supported(),
        threads=torch.get_num_threads(),
    )


def as_setting(value: bool | str, name: str) -> bool | str:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in SETTING_WORDS:
        raise ValueError(f"{name} must be true, false or 'auto', got {value!r}")
    return SETTING_WORDS[text]


def resolve_precision(bf16: bool | str, fp16: bool | str, machine: MachineInfo) -> Precision:
    """Turn `bf16`/`fp16` settings (true, false or 'auto') into the pair to train with on `machine`.

    `auto` takes bf16 where the hardware runs it natively, then fp16 on CUDA (only where `fp16` is also
    auto), else fp32. An explicit `true` is kept, with a warning when bf16 would be emulated on this CPU.
    """
    bf16, fp16 = as_setting(bf16, "bf16"), as_setting(fp16, "fp16")
    if bf16 is True and fp16 is True:
        raise ValueError("bf16 and fp16 cannot both be true")
    if machine.device == "cuda":
        native_bf16, where = machine.cuda_bf16, f"CUDA device {machine.cuda_name}"
    elif machine.device == "cpu":
        native_bf16 = bool(machine.cpu_bf16_flags)
        found = "/".join(machine.cpu_bf16_flags) or f"neither {' nor '.join(FAST_BF16_CPU_FLAGS)}"
        where = f"CPU {machine.cpu_model} has {found}"
    else:
        native_bf16, where = False, f"device type {machine.device!r}"

    if bf16 is True:
        if not native_bf16:
            warnings.warn(
                f"bf16 is forced on, but the {where}: bf16 is emulated there, {EMULATED_BF16_SLOWDOWN}. "
                "Use `bf16: auto` (or false) to train in fp32 on this machine.",
                stacklevel=2,
            )
        return Precision(True, False, f"bf16 set explicitly ({where})")
    if fp16 is True:
        return Precision(False, True, f"fp16 set explicitly ({where})")
    if bf16 == AUTO and native_bf16:
        return Precision(True, False, f"bf16: auto → bf16, the {where}")
    if fp16 == AUTO and machine.device == "cuda":
        return Precision(False, True, f"fp16: auto → fp16, the {where} has no bf16")
    if bf16 == AUTO or fp16 == AUTO:
        return Precision(False, False, f"{'bf16' if bf16 == AUTO else 'fp16'}: auto → fp32, the {where}")
    return Precision(False, False, "fp32 (bf16 and fp16 off)")


def resolve_auto_precision(settings: dict, log: bool = True) -> Precision | None:
    """Resolve `bf16`/`fp16` in a recipe's settings dict in place; None when neither key is 'auto'.

    Logs one line saying what was chosen and why. `use_cpu` in the settings (or the environment's
    `ACCELERATE_USE_CPU`) makes the choice for the CPU even where a GPU is present.
    """
    if AUTO not in (str(settings.get("bf16", "")).lower(), str(settings.get("fp16", "")).lower()):
        return None
    use_cpu = as_setting(settings.get("use_cpu", os.environ.get("ACCELERATE_USE_CPU", False)), "use_cpu") is True
    choice = resolve_precision(settings.get("bf16", False), settings.get("fp16", False), detect_machine(use_cpu))
    if "bf16" in settings:
        settings["bf16"] = choice.bf16
    if "fp16" in settings:
        settings["fp16"] = choice.fp16
    if log:
        logger.warning("precision: %s", choice.reason)
    return choice
