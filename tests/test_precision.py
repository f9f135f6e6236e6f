"""`bf16: auto`: bf16 only where the hardware runs it natively, fp32 on AVX2-only CPUs."""

import warnings
from pathlib import Path

import pytest
import yaml

from xuanyuan.cli import resolve_precision_options
from xuanyuan.utils import precision
from xuanyuan.utils.precision import MachineInfo, read_cpu_info, resolve_precision

TINY = Path(__file__).resolve().parents[1] / "recipes" / "tiny"
AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma", "avx512f"})


def cpu(flags=AVX2_ONLY) -> MachineInfo:
    return MachineInfo(device="cpu", cpu_model="Test CPU", cpu_flags=frozenset(flags))


def gpu(bf16: bool) -> MachineInfo:
    return MachineInfo(device="cuda", cpu_model="Host", cpu_flags=AVX2_ONLY, cuda_name="GPU", cuda_bf16=bf16)


@pytest.mark.parametrize(
    ("machine", "bf16", "fp16", "expected"),
    [
        (cpu(), "auto", False, "fp32"),
        (cpu(AVX2_ONLY | {"avx512_bf16"}), "auto", False, "bf16"),
        (cpu(AVX2_ONLY | {"amx_bf16", "amx_tile"}), "auto", False, "bf16"),
        (cpu(), "auto", "auto", "fp32"),  # no fp16 autocast on CPU
        (gpu(bf16=True), "auto", "auto", "bf16"),
        (gpu(bf16=False), "auto", "auto", "fp16"),
        (gpu(bf16=False), "auto", False, "fp32"),
        (MachineInfo(device="mps", cpu_model="M", cpu_flags=frozenset()), "auto", False, "fp32"),
        (cpu(AVX2_ONLY | {"avx512_bf16"}), False, False, "fp32"),
        (gpu(bf16=True), False, True, "fp16"),
    ],
)
def test_auto_follows_the_hardware(machine, bf16, fp16, expected):
    assert resolve_precision(bf16, fp16, machine).name == expected


def test_reason_says_what_was_chosen_and_why():
    reason = resolve_precision("auto", False, cpu()).reason
    assert "fp32" in reason and "avx512_bf16" in reason and "Test CPU" in reason


def test_forcing_bf16_without_hardware_warns_with_the_slowdown():
    with pytest.warns(UserWarning, match="20x slower"):
        assert resolve_precision(True, False, cpu()).bf16
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # native bf16: no warning
        assert resolve_precision("true", False, cpu(AVX2_ONLY | {"avx512_bf16"})).bf16


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="bf16 must be true, false or 'auto'"):
        resolve_precision("maybe", False, cpu())
    with pytest.raises(ValueError, match="cannot both be true"):
        resolve_precision(True, True, gpu(True))


def test_cpuinfo_flags_and_model_are_read(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Example EPYC 7000\nflags\t\t: fpu sse2 avx2 avx512_bf16\n\n"
        "processor\t: 1\nmodel name\t: Example EPYC 7000\nflags\t\t: fpu sse2 avx2 avx512_bf16\n"
    )
    model, flags = read_cpu_info(str(info))
    assert model == "Example EPYC 7000" and flags == {"fpu", "sse2", "avx2", "avx512_bf16"}
    assert read_cpu_info(str(tmp_path / "missing"))[1] == frozenset()


@pytest.mark.parametrize("name", ["pretrain.yaml", "sft.yaml", "reward.yaml", "ppo.yaml"])
def test_tiny_configs_train_in_fp32_on_an_avx2_only_cpu(name, monkeypatch):
    monkeypatch.setattr(precision, "detect_machine", lambda use_cpu=False: cpu())
    config = yaml.safe_load((TINY / name).read_text(encoding="utf-8"))
    assert config["bf16"] == "auto"
    resolve_precision_options(config, [], {"bf16", "fp16", "use_cpu"})
    assert config["bf16"] is False


def test_tiny_configs_use_bf16_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(precision, "detect_machine", lambda use_cpu=False: cpu(AVX2_ONLY | {"avx512_bf16"}))
    config = yaml.safe_load((TINY / "pretrain.yaml").read_text(encoding="utf-8"))
    resolve_precision_options(config, [], {"bf16", "fp16", "use_cpu"})
    assert config["bf16"] is True


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--bf16", "auto", "--max_steps", "3"], ["--bf16", "false", "--max_steps", "3"]),
        (["--bf16=auto"], ["--bf16=false"]),
        (["--bf16", "--max_steps", "3"], ["--bf16", "--max_steps", "3"]),  # bare flag: forced on, left to argparse
    ],
)
def test_command_line_auto_is_resolved_in_place(argv, expected, monkeypatch):
    monkeypatch.setattr(precision, "detect_machine", lambda use_cpu=False: cpu())
    config = {"bf16": "auto"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resolve_precision_options(config, argv, {"bf16", "use_cpu"})
    assert argv == expected


def test_an_isa_cap_in_the_environment_counts_as_no_bf16():
    assert (
        precision.isa_capped({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"})
        == "ONEDNN_MAX_CPU_ISA=AVX2"
    )
    assert precision.isa_capped({"ATEN_CPU_CAPABILITY": "avx2"}) == "ATEN_CPU_CAPABILITY=avx2"
    assert precision.isa_capped({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}) is None
    assert precision.isa_capped({}) is None


def test_command_line_value_replaces_the_yaml_auto(monkeypatch):
    monkeypatch.setattr(precision, "detect_machine", lambda use_cpu=False: cpu(AVX2_ONLY | {"avx512_bf16"}))
    config = {"bf16": "auto"}
    resolve_precision_options(config, ["--bf16", "false"], {"bf16", "use_cpu"})
    assert config["bf16"] is False
