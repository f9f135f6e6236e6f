"""`transformers serve` for XuanYuan checkpoints: an OpenAI-compatible `/v1/chat/completions`, streamed or not.

    python -m xuanyuan.serve outputs/tiny/ppo --host 127.0.0.1 --port 8000 [any other `transformers serve` option]

Clients send the model path exactly as given here as the request's `model` (the server answers 400 to any other
name), e.g. `openai:outputs/tiny/ppo@http://127.0.0.1:8000/v1` for the synthesis steps and eval/compare.py.
Quantized checkpoints (bitsandbytes 8/4-bit, GPTQ) load from their own `quantization_config` with their extra
installed. Without a model path the server loads whichever model a request names and unloads it when idle.

Why a wrapper around the library's server and not the bare command: transformers 5.23's `transformers serve` takes
the class to load from the `transformers` module by the name in `config.architectures`, so a XuanYuan checkpoint
fails with "module transformers has no attribute XuanYuanForCausalLM", `--trust-remote-code` or not. This module
registers the XuanYuan classes, makes the server find `XuanYuanForCausalLM` (`trl_adapter.expose_to_serve`) and
runs the library's own command unchanged. It also loads float32 on a CPU without native bf16 unless `--dtype` is
given (bf16 weights run emulated there, about 20x slower), where the server's default would keep the checkpoint's
bf16 (the quantized variants store their other layers in bf16). A checkpoint converted to Llama
(`xuanyuan-convert --to llama`) needs none of this: the bare `transformers serve` and `vllm serve` load it.

What a request gets: the chat template of the checkpoint's tokenizer with the messages as sent (no system prompt
is added: send XuanYuan's, `xuanyuan.chat_format.XUANYUAN_SYSTEM_PROMPT`, as the first message where it is wanted),
the model's `generation_config.json` under the request's settings. Temperature 0 is greedy, but the chat models'
`repetition_penalty` 1.1 stays unless the request sends `frequency_penalty`, which this server reads as
repetition_penalty = 1 + frequency_penalty (the synthesis steps' HTTP generator sends 0: plain greedy).
"""

from __future__ import annotations

import argparse
import sys

PROG = "python -m xuanyuan.serve"


def default_dtype(argv: list[str]) -> str | None:
    """float32 where the command runs on a CPU without native bf16 and names no `--dtype`; else None (as given)."""
    from .utils.precision import detect_machine

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--dtype")
    parser.add_argument("--device", default="auto")
    known, _ = parser.parse_known_args(argv)
    if known.dtype is not None:
        return None
    machine = detect_machine(use_cpu=known.device == "cpu")
    return "float32" if machine.device == "cpu" and not machine.cpu_bf16_flags else None


def main(argv: list[str] | None = None) -> None:
    from .utils.extras import require

    argv = list(sys.argv[1:] if argv is None else argv)
    require("fastapi")
    require("uvicorn")
    import typer
    from transformers.cli.serve import Serve

    from .modeling import XuanYuanForCausalLM
    from .training.trl_adapter import expose_to_serve

    expose_to_serve(XuanYuanForCausalLM)
    dtype = default_dtype(argv)
    app = typer.Typer(add_completion=False)
    app.command()(Serve)  # the `transformers serve` command, alone
    app(args=[*argv, *(["--dtype", dtype] if dtype else [])], prog_name=PROG)


if __name__ == "__main__":
    main()
