"""Release the model family of a finished pipeline run: one folder per model with exactly what its Hub repo gets.

    python recipes/release.py --config recipes/tiny/release.yaml --pipeline_state outputs/tiny/pipeline_state.json \
        --models base=outputs/tiny/pretrain chat=outputs/tiny/ppo ... --output_dir outputs/tiny/release \
        [--namespace ME --push true --private true]

Each `name=folder` must be the `--output_dir` of a finished stage of the run whose state file
(`pipeline_state.json`, in the run's folder) is `--pipeline_state`; `--pipeline` is the YAML that ran it (the
stages' descriptions, summary keys and metrics files).
`{output_dir}/<repo>/` gets the weights, model code, tokenizer with chat template, generation config, the recipe
YAMLs and a card made from the run (see xuanyuan/release.py); `release.json` and `README.md` list the repos and
the one-line chat command of `--chat_model`. The run's own folders are left as they are. With `--push true` each
folder goes to `<namespace>/<repo>` with huggingface_hub (`create_repo` + `upload_folder`; `--private true`
makes new repos private, an existing repo keeps its visibility). The token comes from `HF_TOKEN` or
`hf auth login`, never from this script's options, and is never printed; `HF_ENDPOINT` points the upload at
another Hub.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pipeline_state import STATE_FILE, load_stages, load_state


@dataclass
class ReleaseArguments:
    models: list[str] = field(
        default_factory=list, metadata={"help": "name=folder of each model: the folder a stage of the run wrote."}
    )
    pipeline_state: str = field(
        default="outputs/tiny/pipeline_state.json", metadata={"help": "The finished run's state file."}
    )
    pipeline: str = field(default="recipes/tiny/pipeline.yaml", metadata={"help": "The pipeline YAML of the run."})
    output_dir: str = field(default="", metadata={"help": "Default: release/ beside the state file."})
    repo_name: str = field(default="XuanYuan-tiny-{name}", metadata={"help": "Hub repo name; {name}: its name."})
    namespace: str = field(default="", metadata={"help": "Hub user or organization of the repos (needed to push)."})
    chat_model: str = field(default="chat", metadata={"help": "Name (in --models) of the chat model; '' for none."})
    notes: str = field(default="", metadata={"help": "Said first under each card's 'Intended use and limits'."})
    push: bool = field(default=False, metadata={"help": "Upload every folder to its Hub repo."})
    private: bool = field(default=False, metadata={"help": "Create the Hub repos as private."})


def run_stages(args: ReleaseArguments) -> list:
    """The run's stages as the release reads them: the command each ran with (from the state file), the rest
    from the pipeline YAML."""
    from xuanyuan.release import ReleaseError, StageRun

    state = Path(args.pipeline_state)
    if state.name != STATE_FILE or not state.is_file():
        raise ReleaseError(f"--pipeline_state {state}: no such file (the {STATE_FILE} of a run_pipeline.py run)")
    if not Path(args.pipeline).is_file():
        raise ReleaseError(f"--pipeline {args.pipeline} does not exist")
    config = yaml.safe_load(Path(args.pipeline).read_text(encoding="utf-8"))
    records = load_state(state.parent)
    stages = []
    for stage in load_stages(config, str(state.parent), config.get("seed", 0)):
        record = records.get(stage.name)
        stages.append(
            StageRun(
                name=stage.name,
                command=record.command if record else stage.command,
                description=stage.description,
                summary=stage.summary,
                metrics_file=stage.metrics,
                images=stage.images,
                finished=record is not None and record.status == "done",
            )
        )
    return stages


def parse_models(args: ReleaseArguments) -> tuple[dict[str, str], dict[str, str]]:
    """name -> folder and name -> Hub repo id."""
    from xuanyuan.release import ReleaseError

    models = {}
    for entry in args.models:
        name, separator, folder = entry.partition("=")
        if not (separator and name and folder) or name in models:
            raise ReleaseError(f"--models {entry!r}: give each model once, as name=folder")
        models[name] = folder
    if not models:
        raise ReleaseError("--models names no model (name=folder ...)")
    if args.chat_model and args.chat_model not in models:
        raise ReleaseError(f"--chat_model {args.chat_model!r} is not a name in --models {sorted(models)}")
    prefix = f"{args.namespace}/" if args.namespace else ""
    return models, {name: prefix + args.repo_name.format(name=name) for name in models}


def check_can_push(args: ReleaseArguments) -> None:
    from huggingface_hub import get_token

    from xuanyuan.release import ReleaseError

    if not args.namespace:
        raise ReleaseError("--push needs --namespace (the Hub user or organization the repos belong to)")
    if get_token() is None:
        raise ReleaseError("--push needs a Hub token: run `hf auth login` or set HF_TOKEN (it is never printed)")


def main(args: ReleaseArguments) -> dict:
    from xuanyuan.hub import push_folder
    from xuanyuan.release import ReleaseError, index_markdown, plan_release, write_release

    output_dir = Path(args.output_dir or Path(args.pipeline_state).parent / "release")
    try:
        models, repo_ids = parse_models(args)
        stages = run_stages(args)
        members = plan_release(models, repo_ids, stages)
        if args.push:
            check_can_push(args)
    except ReleaseError as error:
        raise SystemExit(f"error: {error}") from None
    release = write_release(members, stages, output_dir, args.notes, args.chat_model or None)
    release |= {"pipeline_state": args.pipeline_state, "private": args.private, "pushed": args.push}
    for member in members if args.push else []:
        entry = release["models"][member.name]
        entry["url"] = push_folder(entry["release_folder"], member.repo_id, args.private, f"Release {member.repo}")
        print(f"pushed {member.repo_id}: {entry['url']}")
    (output_dir / "release.json").write_text(json.dumps(release, indent=2, ensure_ascii=False), encoding="utf-8")
    (output_dir / "README.md").write_text(index_markdown(release, output_dir), encoding="utf-8")
    print((output_dir / "README.md").read_text(encoding="utf-8"))
    return release


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([ReleaseArguments])
    main(arguments)
