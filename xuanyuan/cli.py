"""The one argument parser of every entry point: a YAML `--config` plus command-line overrides, checked up front.

On top of TRL's `TrlParser` (which every recipe used directly before) it
- answers `--help` in about a second with the recipe's own options and `--config`, leaving the hundreds
  of TrainingArguments options to `--help-all` (the classes behind them load lazily);
- checks the YAML before anything runs: an unknown key or a value of the wrong type names the key and
  the file (argparse already does this for the command line);
- resolves `bf16: auto` / `fp16: auto` from the hardware (`xuanyuan.utils.precision`);
- reports a model folder that is not there as a missing folder (and which pipeline stage makes it), not
  as the Hub's "Repo id must be in the form …" error it would become inside transformers;
- quiets third-party noise (`xuanyuan.utils.quiet`) unless `XUANYUAN_VERBOSE=1`.
`write_result` is the other end of an entry point: its result JSON in the output folder, and on screen.

    if __name__ == "__main__":
        from xuanyuan.cli import parse_recipe_args
        main(*parse_recipe_args([MyScriptArguments], ["xuanyuan.training:XuanYuanSFTConfig", "trl:ModelConfig"]))
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import importlib
import json
import os
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path

TRAINING_ARGUMENTS_DOCS = (
    "https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments"
)
HELP_FLAGS = ("-h", "--help")


class ConfigError(ValueError):
    """A config file or option that does not fit the recipe; the message names the file and key."""


def _load_class(spec: str | type) -> type:
    if isinstance(spec, type):
        return spec
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _class_name(spec: str | type) -> str:
    return spec.__name__ if isinstance(spec, type) else spec.partition(":")[2]


# ----------------------------------------------------------------------------------------------- help
def _type_label(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_label(a) for a in args if a is not type(None)) + (
            " (optional)" if type(None) in args else ""
        )
    if origin is typing.Literal:
        return "{" + ",".join(map(str, args)) + "}"
    if origin in (list, tuple):
        return f"list of {_type_label(args[0])}" if args else "list"
    return getattr(hint, "__name__", str(hint))


def _default_label(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return repr(field.default_factory())
    return "required"


def short_help(own: Sequence[type], library: Sequence[str | type], script: str, description: str) -> str:
    """The recipe's own options first, `--config`, and a pointer to the rest."""
    lines = [f"usage: python {script} --config FILE.yaml [--option value ...]", ""]
    if description:
        lines += [description.strip(), ""]
    lines += [
        "  --config FILE.yaml    every option below can be set in the YAML; the command line overrides it",
        "  --help-all            list every option, including those of the classes named at the end",
        "",
    ]
    for cls in own:
        hints = typing.get_type_hints(cls)
        lines.append(f"{cls.__name__}:")
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            lines.append(f"  --{field.name} {_type_label(hints[field.name])}  (default: {_default_label(field)})")
            if field.metadata.get("help"):
                lines.append(f"      {field.metadata['help']}")
        lines.append("")
    if library:
        names = ", ".join(_class_name(spec) for spec in library)
        lines.append(
            f"Also accepted: every option of {names} (`--help-all`; TrainingArguments: {TRAINING_ARGUMENTS_DOCS})."
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- YAML checks
def _matches(value, hint) -> bool:
    """Whether a YAML value can stand for a field of type `hint` (lenient where argparse would convert)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any or isinstance(hint, typing.TypeVar):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in args
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return isinstance(value, hint) or value in {member.value for member in hint}
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:  # a mapping too: options like `perplexity` take a JSON object on the command line
        return isinstance(value, str | int | float | dict) and not isinstance(value, bool)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        return isinstance(value, list | tuple) and (not args or all(_matches(v, args[0]) for v in value))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True


def check_config(config: dict, classes: Sequence[type], path: str, extra_keys: Sequence[str] = ("env",)) -> None:
    """Raise `ConfigError` naming `path` and the key for unknown keys and values of the wrong type."""
    fields = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        fields.update({f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init})
    problems = []
    for key, value in config.items():
        if key in extra_keys:
            continue
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            problems.append(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        elif not _matches(value, fields[key]):
            problems.append(f"key {key!r} must be {_type_label(fields[key])}, got {value!r} ({type(value).__name__})")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))


def read_config(path: str) -> dict:
    try:
        import yaml

        text = Path(path).read_bytes().decode("utf-8-sig")
        config = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid UTF-8 (byte offset {error.start}); save the YAML as UTF-8") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: must hold a YAML mapping of option: value, got {type(config).__name__}")
    return config


# ----------------------------------------------------------------------------------------------- precision
def option_value(argv: list[str], name: str) -> tuple[int, str | None] | None:
    """Where `--name` is on the command line and its value (None for a bare flag)."""
    for index, token in enumerate(argv):
        if token == f"--{name}":
            following = argv[index + 1] if index + 1 < len(argv) else None
            return index, None if following is None or following.startswith("--") else following
        if token.startswith(f"--{name}="):
            return index, token.split("=", 1)[1]
    return None


def peek_option(argv: Sequence[str], name: str, default: str) -> str:
    """The value of `--name` before parsing (the command line's, else the `--config` YAML's, else `default`),
    for an entry point whose choice of dataclasses depends on it."""
    argv = list(argv)
    found = option_value(argv, name)
    if found and found[1] is not None:
        return found[1]
    config = option_value(argv, "config")
    if config and config[1] is not None:
        try:
            return str(read_config(config[1]).get(name, default))
        except ConfigError as error:
            raise SystemExit(f"error: {error}") from None
    return default


def resolve_precision_options(config: dict, argv: list[str], fields: set[str]) -> None:
    """Turn `auto` in `bf16`/`fp16` (YAML or command line) into true/false for this machine, in place."""
    from xuanyuan.utils.precision import as_setting, resolve_auto_precision

    settings = {}
    for name in ("bf16", "fp16", "use_cpu"):
        if name not in fields:
            continue
        if name in config:
            settings[name] = config[name]
        found = option_value(argv, name)
        if found:
            settings[name] = True if found[1] is None else found[1]
    choice = resolve_auto_precision(settings)
    for name in ("bf16", "fp16"):
        if name not in settings:
            continue
        if name in config:  # the YAML's value, or the command line's that overrides it (`auto` resolved)
            config[name] = as_setting(settings[name], name)
        if choice is None:
            continue
        value = str(settings[name]).lower()
        found = option_value(argv, name)
        if found:
            index, given = found
            if given is None:
                argv.insert(index + 1, value)
            elif argv[index].startswith(f"--{name}="):
                argv[index] = f"--{name}={value}"
            else:
                argv[index + 1] = value


# ----------------------------------------------------------------------------------------------- entry
def parse_recipe_args(
    own: Sequence[type],
    library: Sequence[str | type] = (),
    argv: Sequence[str] | None = None,
    defaults: dict | None = None,
) -> tuple:
    """Parse `--config` YAML and the command line into instances of `own` + `library` (in that order).

    `own` are the recipe's light dataclasses (shown by `--help`); `library` are heavier ones given as classes
    or "module:ClassName" strings, imported only when needed. `defaults` replace the dataclasses' defaults
    (the YAML and the command line still override them).
    """
    try:
        return _parse(own, library, list(sys.argv[1:] if argv is None else argv), defaults or {})
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None


def _parse(own: Sequence[type], library: Sequence[str | type], argv: list[str], defaults: dict) -> tuple:
    main_module = sys.modules.get("__main__")
    if any(flag in argv for flag in HELP_FLAGS) and "--help-all" not in argv:
        description = ((getattr(main_module, "__doc__", None) or "").split("\n\n") or [""])[0]
        print(short_help(own, library, Path(sys.argv[0]).name, description))
        raise SystemExit(0)

    from xuanyuan.utils.quiet import quiet_third_party

    quiet_third_party()
    classes = [*own, *(_load_class(spec) for spec in library)]

    from trl import TrlParser

    parser = TrlParser(dataclass_types=classes)
    if "--help-all" in argv:
        parser.print_help()
        raise SystemExit(0)
    config, config_path, from_file = dict(defaults), "the command line", {}
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise ConfigError("--config needs a YAML file")
        config_path = argv[index + 1]
        del argv[index : index + 2]
        from_file = read_config(config_path)
        config.update(from_file)
    try:  # `auto` becomes true/false first, so the type check below sees what the run will use
        resolve_precision_options(config, argv, {f.name for cls in classes for f in dataclasses.fields(cls)})
    except ValueError as error:
        raise ConfigError(f"{config_path}: {error}") from None
    check_config({key: config[key] for key in from_file}, classes, config_path)
    for key, value in (config.pop("env", None) or {}).items():
        os.environ[key] = str(value)
    parser.set_defaults_with_config(**config)
    parsed = parser.parse_args_into_dataclasses(args=argv)
    check_model_paths(parsed)
    return parsed


# ----------------------------------------------------------------------------------------------- inputs
MODEL_FIELDS = (
    "model_name_or_path",
    "tokenizer_name_or_path",
    "model",
    "sft_model",
    "reward_model",
    "judge_model",
    "policy",
    "base_model",
)


def is_local_path(value: str) -> bool:
    """A Hub id is `name` or `namespace/name`; more slashes, or a leading `.`, `/` or `~`, mean a folder; a value
    holding a URL (`openai:<model>@http://host:8000/v1`, a model behind a server) is neither."""
    if "://" in value:
        return False
    return value.startswith((".", "/", "~")) or value.count("/") >= 2 or os.sep in value.replace("/", "")


def producing_stage(folder: str) -> str | None:
    """`pipeline.yaml, stage <name>` for the main-job stage whose `--output_dir` is `folder`, if any."""
    import yaml

    recipes = Path(sys.argv[0]).resolve().parents[1] / "recipes"  # entry points live in recipes/, eval/, quantize/
    for pipeline in sorted(recipes.glob("*/pipeline.yaml")):
        config = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
        for stage in config.get("stages", []):
            command = " ".join(str(stage.get("command", "")).split())
            if "--output_dir {output_dir}/" not in command:
                continue
            made = command.split("--output_dir ", 1)[1].split()[0].replace("{output_dir}", config["output_dir"])
            if Path(made) == Path(folder):
                config_file = f"recipes/{pipeline.parent.name}/pipeline.yaml"
                return f"python recipes/run_pipeline.py --config {config_file} (stage {stage['name']})"
    return None


def check_model_paths(parsed: Sequence[object]) -> None:
    """A model field naming a local folder that does not exist is a `ConfigError` saying so."""
    for instance in parsed:
        for field in dataclasses.fields(instance):
            value = getattr(instance, field.name)
            if field.name not in MODEL_FIELDS or not isinstance(value, str) or not value:
                continue
            if is_local_path(value) and not Path(value).expanduser().exists():
                stage = producing_stage(value)
                hint = f"; a pipeline stage makes it: {stage}" if stage else ""
                raise ConfigError(f"--{field.name} {value}: no such model folder{hint}")


# ----------------------------------------------------------------------------------------------- results
def write_result(output_dir: str | Path, filename: str, result: dict) -> dict:
    """Write `result` as `<output_dir>/<filename>` (indented UTF-8 JSON), print it, and return it."""
    text = json.dumps(result, indent=2, ensure_ascii=False)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    Path(output_dir, filename).write_text(text + "\n", encoding="utf-8")
    print(text)
    return result


def write_config(path: str | Path, *parsed) -> None:
    """The options of a run that differ from their defaults (set by its YAML or command line), from the instances
    `parse_recipe_args` returned, as a YAML that `--config` takes back: saved next to the run's outputs.
    `*_token` options (secrets) are left out."""
    import yaml

    values = {}
    for instance in parsed:
        plain = instance.to_dict() if hasattr(instance, "to_dict") else dataclasses.asdict(instance)  # enums as values
        for field in dataclasses.fields(instance):
            default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
            if field.init and not field.name.endswith("_token") and getattr(instance, field.name) != default:
                values[field.name] = plain[field.name]
    Path(path).write_text(yaml.safe_dump(values, allow_unicode=True, sort_keys=False), encoding="utf-8")
