"""A release of a finished pipeline run: per model, one folder holding exactly what a Hub push uploads.

Each folder gets the weights (safetensors), config.json with its `auto_map` and the model code it names, the
tokenizer with its chat template, generation_config.json, the run's recipe YAMLs, settings, metrics and
training plots under `training/`, and README.md: the card of `xuanyuan.model_cards` with the run's numbers,
the evaluations of the model, the models made from it and the family it belongs to. A stage evaluates a model
when it names the model's folder as `--model`/`--models`/`--results`/`--predictions` (plain or `name=folder`),
or a path inside the output of another evaluation of it (paired comparisons read the exam results). Nothing in
the run's own folders is touched: rewriting a trainer's folder would make the pipeline rerun every stage that
reads it. `recipes/release.py` hands over the run's stages and pushes the folders with `xuanyuan.hub`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .hub import ModelCard, chat_generation_config, write_model_card
from .model_cards import KINDS, count_parameters, training_card
from .utils.report_numbers import dotted_get

RELEASED_FILES = (
    "*.safetensors", "*.safetensors.index.json", "config.json", "generation_config.json", "*.py",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "chat_template.jinja",
    "tokenizer.model", "vocab.json", "merges.txt", "adapter_config.json", "quantize_config.json",
    "quant_report.json", "quant_report.md",
)  # fmt: skip
QUANTIZERS = ("bnb", "gptq")  # quantize/<name>.py: their card is `xuanyuan.quantization.card`'s
MODEL_OPTIONS = ("model_name_or_path", "sft_model", "policy", "model", "models")  # what a stage starts from
DATA_OPTIONS = ("data_files", "train_files", "pretrain_files", "prompt_files", "ptx_files", "calibration")
SUBJECT_OPTIONS = ("model", "models", "results", "predictions")  # what an evaluation evaluates
SETTINGS_SUFFIXES = (".yaml", ".yml")
TRAINING = "training"  # the release folder's subfolder for recipe YAMLs, settings, metrics and plots


class ReleaseError(ValueError):
    """Release input that is missing or does not fit; the message names the model, stage or file."""


def parse_command(command: str) -> tuple[str, dict[str, list[str]]]:
    """The script a stage command runs and its options after it (`--name v1 v2` or `--name=v`) as lists."""
    tokens = shlex.split(command)
    start = next((i for i, token in enumerate(tokens) if token.endswith(".py")), len(tokens))
    options: dict[str, list[str]] = {}
    current = None
    for token in tokens[start + 1 :]:
        if token.startswith("--"):
            current, _, value = token[2:].partition("=")
            options[current] = [value] if value else []
        elif current is not None:
            options[current].append(token)
    return (tokens[start] if start < len(tokens) else ""), options


@dataclass
class StageRun:
    """One stage of the run: its command as it ran, what the pipeline YAML says of it, and whether it finished."""

    name: str
    command: str
    description: str = ""
    summary: list[str] = field(default_factory=list)
    metrics_file: str | None = None
    images: list[str] = field(default_factory=list)
    finished: bool = True

    @cached_property
    def script(self) -> str:
        return parse_command(self.command)[0]

    @cached_property
    def options(self) -> dict[str, list[str]]:
        return parse_command(self.command)[1]

    @property
    def output_dir(self) -> Path | None:
        return Path(self.options["output_dir"][0]).resolve() if self.options.get("output_dir") else None

    def named(self, names: tuple[str, ...]) -> list[str]:
        """The values given to the options `names`, of `name=path` values the path."""
        return [value.split("=", 1)[-1] for name in names for value in self.options.get(name, [])]

    def named_paths(self, names: tuple[str, ...]) -> list[Path]:
        return [Path(value).resolve() for value in self.named(names)]

    @cached_property
    def metrics(self) -> dict:
        if not self.metrics_file:
            return {}
        path = Path(self.metrics_file)
        if not path.is_file():
            raise ReleaseError(f"stage {self.name}: its metrics file {path} is missing")
        return json.loads(path.read_text(encoding="utf-8"))

    def headline(self) -> dict:
        """The values of its pipeline `summary` keys."""
        return {key: value for key in self.summary if (value := dotted_get(self.metrics, key)) is not None}


@dataclass
class Member:
    """One released model: its name in the release, its Hub repo, its folder and the stage that made it."""

    name: str
    repo_id: str
    folder: Path
    stage: StageRun
    kind: str

    @property
    def repo(self) -> str:
        return self.repo_id.rsplit("/", 1)[-1]

    @property
    def parents(self) -> list[Path]:
        return self.stage.named_paths(MODEL_OPTIONS)


def model_kind(stage: StageRun) -> str:
    """`KINDS` key (or a quantizer) of the model a stage makes, from its script."""
    name = Path(stage.script).stem
    if name == "grpo":
        return stage.metrics.get("algorithm", "grpo")
    if name in KINDS or name in QUANTIZERS:
        return name
    known = sorted({*KINDS, *QUANTIZERS} - {"rloo"})
    raise ReleaseError(f"stage {stage.name} runs {stage.script or 'no script'}, which makes no model a release knows "
                       f"(recipes/<name>.py or quantize/<name>.py for {known})")  # fmt: skip


def producing_stage(folder: Path, stages: list[StageRun]) -> StageRun | None:
    return next((stage for stage in stages if stage.output_dir == folder.resolve()), None)


def plan_release(models: dict[str, str], repo_ids: dict[str, str], stages: list[StageRun]) -> list[Member]:
    """The members of the release (name -> folder, name -> repo id), each checked: its folder exists, a finished
    stage of the run wrote it, its metrics file is there, and it can load from the Hub."""
    members = []
    for name, folder in models.items():
        path = Path(folder)
        if not path.is_dir():
            raise ReleaseError(f"model {name}: folder {folder} does not exist")
        stage = producing_stage(path, stages)
        if stage is None:
            raise ReleaseError(f"model {name}: no stage of the pipeline writes {folder} (as its --output_dir)")
        if not stage.finished:
            raise ReleaseError(f"model {name}: stage {stage.name}, which writes {folder}, has not finished")
        stage.metrics  # noqa: B018 (read now: a missing metrics file stops the release before it writes anything)
        members.append(Member(name, repo_ids[name], path, stage, model_kind(stage)))
        check_loadable(members[-1])
    return members


def check_loadable(member: Member) -> None:
    """The folder has weights, config.json with an `auto_map` whose code files are there, and a chat template."""
    folder, problems = member.folder, []
    config = _json(folder / "config.json")
    if not (folder / "config.json").is_file():
        problems.append("no config.json")
    elif not config.get("auto_map"):
        problems.append("config.json has no auto_map (the model would not load with trust_remote_code=True)")
    else:
        modules = {target.split(".", 1)[0] for target in config["auto_map"].values()}
        problems += [f"no {module}.py (named in auto_map)" for module in sorted(modules)
                     if not (folder / f"{module}.py").is_file()]  # fmt: skip
    if not list(folder.glob("*.safetensors")):
        problems.append("no safetensors weights")
    template = (folder / "chat_template.jinja").is_file() or "chat_template" in _json(folder / "tokenizer_config.json")
    if not template:
        problems.append("the tokenizer has no chat template")
    if problems:
        raise ReleaseError(f"model {member.name} ({folder}): " + "; ".join(problems))


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def lineage(member: Member, members: list[Member], stages: list[StageRun]) -> list[StageRun]:
    """The stages that made the folders `member` starts from which are not themselves released (oldest first)."""
    released = {m.folder.resolve() for m in members}
    found, queue = [], list(member.parents)
    while queue:
        folder = queue.pop(0)
        stage = None if folder in released else producing_stage(folder, stages)
        if stage is not None and stage not in found:
            found.insert(0, stage)
            queue += stage.named_paths(MODEL_OPTIONS)
    return found


def evaluations(member: Member, stages: list[StageRun], members: list[Member]) -> list[StageRun]:
    """The finished stages that evaluate `member` (see the module docstring), in pipeline order."""
    made = {m.folder.resolve() for m in members}
    subjects, found = [member.folder.resolve()], []
    for stage in stages:
        if not stage.finished or stage.output_dir in made:
            continue
        if any(path.is_relative_to(subject) for path in stage.named_paths(SUBJECT_OPTIONS) for subject in subjects):
            found.append(stage)
            subjects += [stage.output_dir] if stage.output_dir else []
    return found


def rows_about(metrics: dict, folder: Path, depth: int = 3) -> dict:
    """Scalar fields of the records in `metrics` whose `path` is `folder` (a table of several models' results)."""
    found = {}
    for value in metrics.values():
        if not isinstance(value, dict) or depth == 0:
            continue
        if isinstance(value.get("path"), str) and Path(value["path"]).resolve() == folder.resolve():
            skip = {"name", "path"}
            found |= {k: v for k, v in value.items() if k not in skip and isinstance(v, (int, float, str, bool))}
        else:
            found |= rows_about(value, folder, depth - 1)
    return found


def member_card(
    member: Member,
    members: list[Member],
    stages: list[StageRun],
    earlier: list[StageRun],
    configs: list[str],
    notes: str,
):
    """The released card: the model's own card from the run's facts (`configs`: its recipe YAMLs), plus its
    evaluations, the models made from it, how its starting point was made (`earlier`: its `lineage`), and the
    family."""
    bases = [_repo_or_path(raw, members) for raw in member.stage.named(MODEL_OPTIONS)]
    sections = {}
    if earlier:
        sections["How its starting point was made"] = "\n".join(
            f"- `{stage.name}` ({stage.description}):\n\n  ```bash\n  {stage.command}\n  ```\n" for stage in earlier
        )
    images = [Path(image) for image in member.stage.images if Path(image).is_file()]
    if images:
        sections["Training curves"] = "\n\n".join(f"![{image.name}]({TRAINING}/{image.name})" for image in images)
    children = [m for m in members if member.folder.resolve() in m.parents]
    if children:
        rows = [f"| `{c.repo_id}` | {c.stage.description} | {_numbers(c.stage.headline())} |" for c in children]
        sections["Models made from it"] = "\n".join(["| model | what | key numbers |", "|---|---|---|", *rows])
    sections["The family"] = family_table(member, members)
    evaluated = {f"**{s.name}**: {s.description}": {**s.headline(), **rows_about(s.metrics, member.folder)}
                 for s in evaluations(member, stages, members)}  # fmt: skip
    if member.kind in QUANTIZERS:
        from .quantization.card import quantized_model_card

        card = quantized_model_card(member.stage.metrics, bases[0], member.stage.command, member.repo_id)
        card.sections |= sections
        card.notes, card.evaluations, card.parameters = notes, evaluated, count_parameters(member.parents[0])
        return card
    return training_card(
        member.kind,
        member.repo_id,
        base_model=bases[0] if len(bases) == 1 else bases or None,
        command=member.stage.command,
        configs=configs,
        datasets=member.stage.named(DATA_OPTIONS),
        metrics=member.stage.metrics,
        parameters=count_parameters(member.folder),
        config_copies=f"{TRAINING}/",
        sections=sections,
        evaluations=evaluated,
        notes=notes,
    )


def _repo_or_path(raw: str, members: list[Member]) -> str:
    """A released model's repo id for its folder, else the folder as the command named it."""
    return next((m.repo_id for m in members if m.folder.resolve() == Path(raw).resolve()), raw)


def _numbers(values: dict) -> str:
    return ", ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}" for key, value in
                     values.items())  # fmt: skip


def family_table(member: Member, members: list[Member]) -> str:
    rows = ["| model | what | made from |", "|---|---|---|"]
    for m in members:
        origin = ", ".join(f"`{_repo_or_path(raw, members)}`" for raw in m.stage.named(MODEL_OPTIONS))
        name = f"**`{m.repo_id}`** (this one)" if m is member else f"`{m.repo_id}`"
        rows.append(f"| {name} | {m.stage.description} | {origin} |")
    return "\n".join(rows)


def collect_configs(member: Member, earlier: list[StageRun]) -> list[str]:
    """The recipe YAMLs of the stages that made the model: their `--config` files, the YAMLs those (and the
    model's settings files) name, e.g. RAFT's best-of-N and SFT configs."""
    configs = []
    for stage in [*earlier, member.stage]:
        configs += [path for path in stage.options.get("config", []) if Path(path).is_file()]
    settings = [member.folder / name for name in _settings_files(member)]
    for source in [*configs, *settings]:
        configs += [path for path in _named_yamls(Path(source)) if path not in configs]
    return list(dict.fromkeys(configs))


def _settings_files(member: Member) -> list[str]:
    names = ("quantize_recipe.yaml",) if member.kind in QUANTIZERS else KINDS[member.kind].settings_files
    return [name for name in names if (member.folder / name).is_file()]


def _named_yamls(path: Path) -> list[str]:
    """YAML files that exist and are named by a top-level string value of a YAML or JSON file."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    values = data.values() if isinstance(data, dict) else []
    return [v for v in values if isinstance(v, str) and v.endswith(SETTINGS_SUFFIXES) and Path(v).is_file()]


def assemble(member: Member, card: ModelCard, configs: list[str], destination: Path) -> list[str]:
    """Write `destination` afresh with exactly what the Hub repo gets; returns its files (relative paths)."""
    from .tokenization import load_tokenizer

    if destination.exists():
        shutil.rmtree(destination)
    (destination / TRAINING).mkdir(parents=True)
    for path in sorted(member.folder.iterdir()):
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in RELEASED_FILES):
            _link_or_copy(path, destination / path.name)
    tokenizer = load_tokenizer(member.folder)
    if card.task == "chat" and not (destination / "generation_config.json").exists():
        chat_generation_config(tokenizer).save_pretrained(destination)
    extras = [*configs, *(member.folder / name for name in _settings_files(member))]
    extras += [member.stage.metrics_file, *member.stage.images]
    used = set()
    for source in (Path(path) for path in extras if path and Path(path).is_file()):
        if (destination / source.name).is_file() and source.parent.resolve() == member.folder.resolve():
            continue  # released as it is (a quantization's report)
        name = source.name if source.name not in used else f"{source.parent.name}-{source.name}"
        used.add(name)
        shutil.copy2(source, destination / TRAINING / name)
    write_model_card(destination, card, tokenizer)
    return sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file())


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows (weights are large), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def write_release(
    members: list[Member], stages: list[StageRun], output_dir: Path, notes: str = "", chat_model: str | None = None
) -> dict:
    """Every member's folder under `output_dir` (named after its repo); returns the release's summary: per model
    its repo, folders, card, files and size, and the one-line chat command of `chat_model`."""
    models = {}
    for member in members:
        earlier = lineage(member, members, stages)
        configs = collect_configs(member, earlier)
        card = member_card(member, members, stages, earlier, configs, notes)
        destination = output_dir / member.repo
        files = assemble(member, card, configs, destination)
        models[member.name] = {
            "repo_id": member.repo_id,
            "repo": member.repo,
            "kind": member.kind,
            "stage": member.stage.name,
            "description": member.stage.description,
            "folder": str(member.folder),
            "release_folder": str(destination),
            "card": str(destination / "README.md"),
            "files": files,
            "mb": round(folder_bytes(destination) / 1e6, 2),
        }
        print(f"{destination}: {len(files)} files, {models[member.name]['mb']:.1f} MB ({member.repo_id})")
    chat = models.get(chat_model) if chat_model else None
    return {
        "num_models": len(models),
        "total_mb": round(sum(entry["mb"] for entry in models.values()), 2),
        "chat_command": shlex.join(["python", "-m", "xuanyuan.chat", chat["release_folder"]]) if chat else None,
        "models": models,
    }


def index_markdown(release: dict, output_dir: Path) -> str:
    """release/README.md: every repo with its card, the trainer's own card and size, and the chat command.
    Links are relative to `output_dir`."""
    lines = [
        f"## Release: {release['num_models']} models, {release['total_mb']:.1f} MB",
        "",
        f"Each folder holds exactly what `recipes/release.py --push true` uploads to its Hub repo "
        f"({'private' if release['private'] else 'public'}){'; this run pushed them' if release['pushed'] else ''}.",
        "",
        "| model | Hub repo | made by | card | trainer's card | files | MB |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for name, entry in release["models"].items():
        own = Path(entry["folder"], "README.md")
        own_link = f"[{entry['stage']}]({os.path.relpath(own, output_dir)})" if own.is_file() else entry["stage"]
        card = f"[README.md]({entry['repo']}/README.md)"
        repo = f"[`{entry['repo_id']}`]({entry['url']})" if entry.get("url") else f"`{entry['repo_id']}`"
        lines.append(f"| {name} | {repo} | {entry['description']} | {card} | {own_link} "
                     f"| {len(entry['files'])} | {entry['mb']:.1f} |")  # fmt: skip
    if release.get("chat_command"):
        lines += ["", "Chat with the chat model:", "", "```bash", release["chat_command"], "```"]
    return "\n".join(lines) + "\n"
