"""Talk to a chat model in the terminal or on a web page.

    python -m xuanyuan.chat MODEL                         # terminal chat (also `xuanyuan-chat MODEL`)
    echo 什么是市盈率？ | python -m xuanyuan.chat MODEL     # one reply per input line, nothing else
    python -m xuanyuan.chat MODEL --web                   # web page on http://127.0.0.1:7860
    python -m xuanyuan.chat SFT_MODEL --web --compare PPO_MODEL   # two models side by side

MODEL is a checkpoint folder or Hub id, a LoRA adapter folder, or a bitsandbytes / GPTQ checkpoint made by
quantize/. Sampling defaults come from the model's generation_config.json; the flags override them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..chat_format import XUANYUAN_SYSTEM_PROMPT
from ..cli import is_local_path
from ..utils.extras import MissingExtraError, require


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m xuanyuan.chat" if sys.argv[0].endswith("__main__.py") else None,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="checkpoint folder or Hub id, LoRA adapter folder, or quantized checkpoint")
    parser.add_argument("--system_prompt", default=XUANYUAN_SYSTEM_PROMPT, help="default: XuanYuan's; '' for none")
    sampling = parser.add_argument_group("sampling (default: the model's generation_config.json)")
    sampling.add_argument("--temperature", type=float, help="0 decodes greedily")
    sampling.add_argument("--top_p", type=float)
    sampling.add_argument("--max_new_tokens", type=int)
    sampling.add_argument("--repetition_penalty", type=float)
    sampling.add_argument("--greedy", action="store_true", help="greedy decoding (as --temperature 0)")
    sampling.add_argument("--seed", type=int, help="seed for sampling (default: a different reply each time)")
    loading = parser.add_argument_group("loading")
    loading.add_argument("--max_length", type=int, help="context length in tokens (default: the model's)")
    loading.add_argument("--device", help="cuda, cpu, ... (default: cuda when there is one)")
    loading.add_argument(
        "--dtype", default="auto", help="auto (bf16 where the hardware has it, else fp32), float32, bfloat16, float16"
    )
    loading.add_argument("--base_model", help="base model of a LoRA adapter (default: the one it names)")
    web = parser.add_argument_group("web page")
    web.add_argument("--web", action="store_true", help="serve a chat page instead of the terminal chat")
    web.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    web.add_argument("--port", type=int, help="default: the first free port from 7860")
    web.add_argument("--compare", metavar="MODEL2", help="a second model answering side by side")
    args = parser.parse_args(argv)
    if args.compare and not args.web:
        parser.error("--compare needs --web")
    for path in (args.model, args.compare, args.base_model):
        if path and is_local_path(path) and not Path(path).expanduser().exists():
            parser.error(f"{path}: no such model folder")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.web:
        try:
            require("gradio")  # before minutes of loading
        except MissingExtraError as error:
            raise SystemExit(f"error: {error}") from None
    from transformers import set_seed

    from .loading import load_chat_model
    from .session import ChatSession, chat_sampling

    if args.seed is not None:
        set_seed(args.seed)
    names = [args.model, *([args.compare] if args.compare else [])]
    sessions = []
    for name in names:
        print(f"loading {name} ...", file=sys.stderr, flush=True)
        try:
            model, tokenizer = load_chat_model(name, args.device, args.dtype, args.base_model)
        except (ValueError, MissingExtraError) as error:  # a wrong --dtype, a quantization backend not installed
            raise SystemExit(f"error: {error}") from None
        overrides = {
            key: getattr(args, key) for key in ("temperature", "top_p", "max_new_tokens", "repetition_penalty")
        }
        sampling = chat_sampling(model.generation_config, args.greedy, **overrides)
        sessions.append(ChatSession(model, tokenizer, args.system_prompt or None, sampling, args.max_length))
    if args.web:
        from .web import launch

        launch(sessions, names, args.host, args.port)
    else:
        from .terminal import run_terminal

        run_terminal(sessions[0], args.model)


if __name__ == "__main__":
    main()
