"""Convert checkpoints between `LlamaForCausalLM` (the published XuanYuan format) and XuanYuan.

Both architectures share every parameter name, so conversion rewrites only `config.json` and adds or
removes the modeling code beside it; weight files are copied byte for byte, which keeps a 70B
conversion a file copy rather than a load into memory.

    xuanyuan-convert --to xuanyuan --input path/to/llama --output path/to/xuanyuan
    xuanyuan-convert --to llama --input path/to/xuanyuan --output path/to/llama
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from transformers import LlamaConfig

from . import configuration_xuanyuan, modeling_xuanyuan
from .configuration_xuanyuan import XuanYuanConfig

CODE_FILES = (Path(configuration_xuanyuan.__file__), Path(modeling_xuanyuan.__file__))
CONFIG_FIELDS_NOT_COPIED = {"model_type", "architectures", "auto_map", "transformers_version"}


def _resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(name_or_path))


def _copy_all_but_config(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    code_names = {f.name for f in CODE_FILES}
    for item in src.iterdir():
        if item.name == "config.json" or item.name in code_names or item.is_dir():
            continue
        shutil.copy2(item, dst / item.name)


def _check_model_type(src: Path, expected: str) -> None:
    found = json.loads((src / "config.json").read_text(encoding="utf-8")).get("model_type")
    if found != expected:
        raise ValueError(f"{src / 'config.json'}: field 'model_type' is {found!r}, expected {expected!r}.")


def _architecture_fields(src: Path, source_class: type) -> dict:
    """Every field of the source config, with the source class's defaults filling what the file omits
    (Llama and XuanYuan defaults differ, e.g. rms_norm_eps) and legacy rope fields upgraded."""
    config = source_class.from_pretrained(src).to_dict()
    return {k: v for k, v in config.items() if k not in CONFIG_FIELDS_NOT_COPIED}


def llama_to_xuanyuan(src: str | Path, dst: str | Path) -> Path:
    """Write a XuanYuan checkpoint (config with `auto_map` + modeling code) from a Llama one."""
    src, dst = _resolve(str(src)), Path(dst)
    _check_model_type(src, LlamaConfig.model_type)
    _copy_all_but_config(src, dst)
    config = XuanYuanConfig(**_architecture_fields(src, LlamaConfig))
    config.architectures = ["XuanYuanForCausalLM"]
    config.save_pretrained(dst)
    for code_file in CODE_FILES:
        shutil.copy2(code_file, dst / code_file.name)
    return dst


def xuanyuan_to_llama(src: str | Path, dst: str | Path) -> Path:
    """Write a plain `LlamaForCausalLM` checkpoint (no remote code) from a XuanYuan one."""
    src, dst = _resolve(str(src)), Path(dst)
    _check_model_type(src, XuanYuanConfig.model_type)
    _copy_all_but_config(src, dst)
    config = LlamaConfig(**_architecture_fields(src, XuanYuanConfig))
    config.architectures = ["LlamaForCausalLM"]
    config.save_pretrained(dst)
    return dst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", choices=["xuanyuan", "llama"], required=True, help="target format")
    parser.add_argument("--input", required=True, help="checkpoint folder or Hub id")
    parser.add_argument("--output", required=True, help="folder to write")
    args = parser.parse_args(argv)
    convert = llama_to_xuanyuan if args.to == "xuanyuan" else xuanyuan_to_llama
    print(f"wrote {convert(args.input, args.output)}")


if __name__ == "__main__":
    main()
