"""recipes/release.py: each model of a finished run becomes the folder its Hub repo gets, its card names the run's
numbers, the folder loads with `trust_remote_code=True` anywhere, and `--push` uploads exactly it.

The run is a fake one: toy models saved where a pipeline's stages would have written them, metrics files with
known numbers, and the pipeline YAML and `pipeline_state.json` the runner would have left.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hub_stand_in import HubStandIn
from ppo_toy import toy_config, toy_tokenizer
from script_loading import REPO, load_script

from xuanyuan.hub import render_model_card
from xuanyuan.model_cards import KINDS, config_options, count_parameters, training_card, write_training_card
from xuanyuan.modeling import XuanYuanForCausalLM, XuanYuanForSequenceClassification

TOKEN = "hf_standin_5ecret_value_never_shown"
QUANT_REPORT = {
    "method": {"library": "bitsandbytes", "bits": 8},
    "reference": {
        "memory_footprint_bytes": 4e6, "memory_footprint_bf16_bytes": 2e6,
        "perplexity": {"perplexity": 3.25}, "exam": {"accuracy": 0.5},
    },
    "quantized": {
        "path": "chat-8bit", "memory_footprint_bytes": 1.5e6, "perplexity": {"perplexity": 3.5},
        "exam": {"accuracy": 0.4375}, "quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True},
    },
    "size": {
        "weights_bytes": 1.4e6, "fp32_weights_bytes": 4e6, "bf16_weights_bytes": 2e6, "ratio_to_fp32": 0.35,
        "ratio_to_bf16": 0.7, "memory_footprint_ratio_to_fp32": 0.375, "memory_footprint_ratio_to_bf16": 0.75,
    },
    "perplexity_ratio": 3.5 / 3.25,
    "exam_accuracy_delta": -0.0625,
    "logit_agreement": {
        "kl_mean": 0.002, "kl_max": 0.01, "relative_l2": 0.05, "top1_agreement": 0.97, "num_tokens": 64,
    },
}  # fmt: skip
# name: (command after `python`, metrics file, metrics, summary keys); {o} is the run's folder
STAGES = {
    "init_model": ("recipes/create_model.py --config recipes/tiny/model.yaml --output_dir {o}/init", None, None, []),
    "pretrain": (
        "recipes/pretrain.py --config recipes/tiny/pretrain.yaml --model_name_or_path {o}/init "
        "--data_files {o}/data/corpus.jsonl --output_dir {o}/pretrain",
        "pretrain/pretrain_metrics.json", {"final_train_loss": 2.3456, "tokens_seen": 4096}, ["final_train_loss"],
    ),
    "exam_pretrain": ("eval/ceval.py --model {o}/pretrain --output_dir {o}/eval/pretrain/exam",
                      "eval/pretrain/exam/results.json", {"overall": {"accuracy": 0.4375}}, ["overall.accuracy"]),
    "sft": (
        "recipes/sft.py --config recipes/tiny/sft.yaml --model_name_or_path {o}/pretrain "
        "--train_files {o}/data/sft.jsonl --output_dir {o}/sft",
        "sft/sft_metrics.json", {"train_loss": 1.2345, "eval": {"sft_loss": 1.5}}, ["train_loss"],
    ),
    "exam_sft": ("eval/ceval.py --model {o}/sft --output_dir {o}/eval/sft/exam", "eval/sft/exam/results.json",
                 {"overall": {"accuracy": 0.5625}}, ["overall.accuracy"]),
    "sft_vs_pretrain": (
        "eval/paired_exam.py --results {o}/eval/sft/exam/results.json "
        "--baseline {o}/eval/pretrain/exam/results.json --output_dir {o}/eval/paired",
        "eval/paired/paired.json", {"difference": 0.1875, "cluster_p_value": 0.0123}, ["difference"],
    ),
    "reward": (
        "recipes/reward.py --config recipes/tiny/reward.yaml --model_name_or_path {o}/sft "
        "--data_files {o}/data/pairs.jsonl --output_dir {o}/reward",
        "reward/rm_report.json", {"selected": {"accuracy": 0.8125, "margin_mean": 1.75}}, ["selected.accuracy"],
    ),
    "eval_reward": ("eval/reward.py --model {o}/reward --output_dir {o}/eval/reward", "eval/reward/reward_eval.json",
                    {"accuracy": 0.7891, "num_pairs": 64}, ["accuracy", "num_pairs"]),
    "ppo": (
        "recipes/ppo.py --config recipes/tiny/ppo.yaml --sft_model {o}/sft --reward_model {o}/reward "
        "--prompt_files {o}/data/prompts.jsonl --output_dir {o}/ppo",
        "ppo/ppo_summary.json", {"steps": 4, "reward_first": -0.5, "reward_last": 1.7654, "kl_last": 0.321},
        ["reward_last"],
    ),
    "alignment": (
        "eval/alignment.py --baseline sft={o}/sft --models ppo={o}/ppo --reward_model {o}/reward "
        "--output_dir {o}/eval/alignment",
        "eval/alignment/alignment.json",
        {"num_prompts": 8, "methods": {"sft": {"path": "{o}/sft", "reward_mean": 0.2468},
                                       "ppo": {"path": "{o}/ppo", "reward_mean": 1.3579}}},
        ["num_prompts"],
    ),
    "quantize_8bit": ("quantize/bnb.py --model {o}/ppo --bits 8 --output_dir {o}/chat-8bit",
                      "chat-8bit/quant_report.json", QUANT_REPORT, ["perplexity_ratio"]),
    "dpo": ("recipes/dpo.py --model_name_or_path {o}/sft --output_dir {o}/dpo", "dpo/dpo_summary.json", None, []),
    "grpo": ("recipes/grpo.py --model_name_or_path {o}/sft --output_dir {o}/grpo", "grpo/grpo_summary.json", None, []),
}  # fmt: skip
MODELS = {"base": "pretrain", "sft": "sft", "reward": "reward", "chat": "ppo", "chat-8bit": "chat-8bit"}
UNFINISHED = "grpo"  # its folder exists, the state file has no record of it


def fill(value, run: Path):
    return json.loads(json.dumps(value).replace("{o}", str(run)))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The fake run: toy models, metrics, junk a trainer leaves, the pipeline YAML and its state file."""
    state_module = load_script("recipes/pipeline_state.py")
    run = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    tokenizer = toy_tokenizer()
    for folder in ("pretrain", "sft", "ppo", "chat-8bit", "dpo", "grpo"):
        XuanYuanForCausalLM(toy_config(pad_token_id=0, bos_token_id=1, eos_token_id=2)).save_pretrained(run / folder)
        tokenizer.save_pretrained(run / folder)
    XuanYuanForSequenceClassification(toy_config(num_labels=1, pad_token_id=0)).save_pretrained(run / "reward")
    tokenizer.save_pretrained(run / "reward")
    (run / "ppo/generation_config.json").unlink()  # the release writes the chat settings
    (run / "ppo/checkpoint-2").mkdir()
    (run / "ppo/checkpoint-2/model.safetensors").write_bytes(b"old")
    (run / "ppo/training_args.bin").write_bytes(b"pickle")
    (run / "ppo/ppo_curves.png").write_bytes(b"png")
    (run / "data").mkdir()
    (run / "data/prompts.jsonl").write_text('{"prompt": "t1 t2"}\n{"prompt": "t3"}\n', encoding="utf-8")
    records, stages = {}, []
    for name, (command, metrics_file, metrics, summary) in STAGES.items():
        command = fill(f"python {command}", run)
        stage = {"name": name, "command": command.replace(str(run), "{output_dir}"), "description": f"{name} stage"}
        if metrics_file:
            stage |= {"metrics": f"{{output_dir}}/{metrics_file}", "summary": summary}
        if metrics is not None:
            path = run / metrics_file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(fill(metrics, run)), encoding="utf-8")
        stage |= {"images": ["{output_dir}/ppo/ppo_curves.png"]} if name == "ppo" else {}
        stages.append(stage)
        if name != UNFINISHED:
            records[name] = state_module.StageRecord("done", command, "hash", {}, metrics=fill(metrics or {}, run))
    (run / "pipeline.yaml").write_text(yaml.safe_dump({"output_dir": str(run), "stages": stages}), encoding="utf-8")
    state_module.save_state(run, records)
    return run


def release_args(run: Path, out: Path, **overrides):
    recipe = load_script("recipes/release.py")
    settings = {
        "models": [f"{name}={run / folder}" for name, folder in MODELS.items()],
        "pipeline_state": str(run / "pipeline_state.json"),
        "pipeline": str(run / "pipeline.yaml"),
        "output_dir": str(out),
        "repo_name": "XuanYuan-test-{name}",
        "notes": "A toy model of the release tests.",
    }
    return recipe, recipe.ReleaseArguments(**(settings | overrides))


@pytest.fixture(scope="module")
def released(run, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("release")
    recipe, args = release_args(run, out)
    old_cwd = os.getcwd()
    os.chdir(REPO)  # the commands name the recipe YAMLs relative to the repository, as the main job runs them
    try:
        return out, recipe.main(args)
    finally:
        os.chdir(old_cwd)


def card(out: Path, name: str) -> str:
    return (out / f"XuanYuan-test-{name}" / "README.md").read_text(encoding="utf-8")


def test_each_folder_holds_exactly_what_the_repo_gets(run, released):
    out, release = released
    folder = out / "XuanYuan-test-chat"
    files = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    model = {"config.json", "configuration_xuanyuan.py", "modeling_xuanyuan.py", "model.safetensors"}
    tokenizer = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}
    training = {"training/ppo.yaml", "training/ppo_summary.json", "training/ppo_curves.png"}
    assert files == model | tokenizer | training | {"generation_config.json", "README.md"}  # no checkpoints, no pickle
    assert (out / "XuanYuan-test-chat/training/ppo.yaml").read_bytes() == (REPO / "recipes/tiny/ppo.yaml").read_bytes()
    assert (out / "XuanYuan-test-chat/model.safetensors").read_bytes() == (run / "ppo/model.safetensors").read_bytes()
    generation = json.loads((out / "XuanYuan-test-chat/generation_config.json").read_text())
    assert (generation["eos_token_id"], generation["temperature"]) == (2, 0.7)  # written: the trainer saved none
    assert {"training/model.yaml", "training/pretrain.yaml"} <= set(release["models"]["base"]["files"])  # its init
    assert "quant_report.json" in release["models"]["chat-8bit"]["files"]
    assert release["chat_command"] == f"python -m xuanyuan.chat {out / 'XuanYuan-test-chat'}"
    assert release["num_models"] == len(MODELS) and release["pushed"] is False
    index = (out / "README.md").read_text(encoding="utf-8")
    assert "[README.md](XuanYuan-test-chat/README.md)" in index and release["chat_command"] in index
    assert "README.md" not in os.listdir(run / "ppo")  # the run's own folders are left as they are


def test_cards_name_the_runs_numbers(released):
    out, _ = released
    base, sft, reward, chat, quantized = (card(out, name) for name in MODELS)
    assert "| final_train_loss | 2.346 |" in base and "| overall.accuracy | 0.4375 |" in base
    assert "| overall.accuracy | 0.5625 |" in sft and "| difference | 0.1875 |" in sft
    assert "sft_vs_pretrain" not in base  # the paired comparison evaluates SFT (its --results), not its baseline
    assert "| selected.accuracy | 0.8125 |" in reward and "| accuracy | 0.7891 |" in reward
    assert "AutoModelForSequenceClassification" in reward and "pipeline_tag: text-classification" in reward
    assert "| reward_last | 1.765 |" in chat and "| reward_mean | 1.358 |" in chat  # its own row of the table
    assert "0.2468" not in chat and "alignment" not in sft + reward  # baseline and judge are not evaluated there
    assert "| held-out perplexity | 3.250 | 3.500 | 1.0769 |" in quantized and "| exam accuracy |" in quantized
    assert "python recipes/ppo.py --config recipes/tiny/ppo.yaml" in chat
    assert "base_model: XuanYuan-test-sft" in chat and "base_model: XuanYuan-test-chat" in quantized
    assert "`init_model`" in base and "recipes/create_model.py" in base  # how its starting point was made
    assert "| `XuanYuan-test-chat-8bit` |" in chat  # the models made from it, with their numbers
    for text in (base, sft, reward, chat, quantized):
        assert "## Intended use and limits\n\nA toy model of the release tests." in text
        assert "financial, investment, tax or legal advice" in text and "demonstration model" in text


def test_released_folders_load_from_a_clean_directory(run, released, tmp_path):
    """Copied elsewhere, every folder loads with trust_remote_code=True from its own code (no xuanyuan import),
    computes the logits of the model the run saved, and runs its card's example."""
    out, _ = released
    clean = tmp_path / "clean"
    for name in MODELS:
        shutil.copytree(out / f"XuanYuan-test-{name}", clean / name)
    script = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
ids = torch.tensor([[1, 5, 6, 7, 2]])
result = {}
for name, auto in json.loads(sys.argv[1]).items():
    cls = AutoModelForSequenceClassification if auto == "seq" else AutoModelForCausalLM
    model = cls.from_pretrained(name, trust_remote_code=True).eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    result[name] = {"module": type(model).__module__, "logits": logits.tolist(),
                    "template": AutoTokenizer.from_pretrained(name, trust_remote_code=True).chat_template}
    card = open(f"{name}/README.md", encoding="utf-8").read()
    example = card.split("```python\n", 1)[1].split("```", 1)[0].replace(f'"XuanYuan-test-{name}"', f'"{name}"')
    exec(example, {})  # the card's own example, on the copy
result["xuanyuan_imported"] = any(m.split(".")[0] == "xuanyuan" for m in sys.modules)
print(json.dumps(result))
"""
    kinds = {name: "seq" if name == "reward" else "lm" for name in MODELS}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"
    }  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script, json.dumps(kinds)], cwd=clean, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded.pop("xuanyuan_imported") is False
    template = toy_tokenizer().chat_template
    for name, folder in MODELS.items():
        cls = XuanYuanForSequenceClassification if name == "reward" else XuanYuanForCausalLM
        with torch.no_grad():
            expected = cls.from_pretrained(run / folder).eval()(input_ids=torch.tensor([[1, 5, 6, 7, 2]])).logits
        assert loaded[name]["module"].startswith("transformers_modules"), loaded[name]["module"]
        assert torch.equal(torch.tensor(loaded[name]["logits"]), expected), name
        assert loaded[name]["template"] == template


def test_push_uploads_exactly_the_folders_privately_and_never_shows_the_token(run, released, tmp_path):
    out = tmp_path / "release"
    argv = [
        sys.executable, "recipes/release.py", "--pipeline_state", str(run / "pipeline_state.json"),
        "--pipeline", str(run / "pipeline.yaml"), "--models", f"chat={run / 'ppo'}", f"reward={run / 'reward'}",
        "--output_dir", str(out), "--repo_name", "XuanYuan-test-{name}", "--namespace", "acme",
        "--push", "true", "--private", "true",
    ]  # fmt: skip
    with HubStandIn() as hub:
        env = os.environ | {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp_path / "hf"),
                            "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(REPO)}  # fmt: skip
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(hub.repos) == {"acme/XuanYuan-test-chat", "acme/XuanYuan-test-reward"}
    assert all(request["visibility"] == "private" for request in hub.repos.values())
    for name in ("chat", "reward"):
        folder = out / f"XuanYuan-test-{name}"
        local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        assert hub.files[f"acme/XuanYuan-test-{name}"] == local
    assert hub.unexpected == [] and set(hub.authorizations) == {f"Bearer {TOKEN}"}
    shown = done.stdout + done.stderr + "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert TOKEN not in shown
    release = json.loads((out / "release.json").read_text())
    assert release["pushed"] and release["models"]["chat"]["url"] == f"{hub.endpoint}/acme/XuanYuan-test-chat"
    assert f"[`acme/XuanYuan-test-chat`]({hub.endpoint}/acme/XuanYuan-test-chat)" in (out / "README.md").read_text()


def test_push_without_a_token_stops_before_writing(run, tmp_path):
    argv = [
        sys.executable, "recipes/release.py", "--pipeline_state", str(run / "pipeline_state.json"),
        "--pipeline", str(run / "pipeline.yaml"), "--models", f"chat={run / 'ppo'}", "--output_dir",
        str(tmp_path / "release"), "--namespace", "acme", "--push", "true",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if "TOKEN" not in k} | {"HF_HOME": str(tmp_path / "hf")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "needs a Hub token" in done.stderr
    assert not (tmp_path / "release").exists()


@pytest.mark.parametrize(
    "models, problem",
    [
        ({"chat": "missing"}, "model chat: folder {o}/missing does not exist"),
        ({"chat": "ppo", "dpo": "dpo"}, "stage dpo: its metrics file {o}/dpo/dpo_summary.json is missing"),
        ({"chat": "ppo", "grpo": "grpo"}, "model grpo: stage grpo, which writes {o}/grpo, has not finished"),
        ({"chat": "ppo", "data": "data"}, "model data: no stage of the pipeline writes {o}/data"),
        ({"sft": "sft"}, "--chat_model 'chat' is not a name in --models ['sft']"),
    ],
)
def test_bad_input_names_the_model_and_file(run, tmp_path, models, problem):
    recipe, args = release_args(run, tmp_path / "out", models=[f"{name}={run / p}" for name, p in models.items()])
    with pytest.raises(SystemExit, match="error: ") as raised:
        recipe.main(args)
    assert problem.replace("{o}", str(run)) in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_a_folder_without_auto_map_is_refused(run, tmp_path):
    broken = tmp_path / "run"
    shutil.copytree(run, broken, ignore=shutil.ignore_patterns("chat-8bit", "reward", "pretrain", "dpo", "grpo"))
    config = json.loads((broken / "sft/config.json").read_text())
    (broken / "sft/config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "auto_map"}))
    state_module = load_script("recipes/pipeline_state.py")
    records = state_module.load_state(run)
    for record in records.values():
        record.command = record.command.replace(str(run), str(broken))
    state_module.save_state(broken, records)
    recipe, args = release_args(broken, tmp_path / "out", models=[f"sft={broken / 'sft'}"], chat_model="")
    args.pipeline = str(run / "pipeline.yaml")
    with pytest.raises(SystemExit, match="config.json has no auto_map"):
        recipe.main(args)


def test_a_recipe_writes_its_card_when_it_saves(run, tmp_path, monkeypatch):
    """What write_training_card (called by every trainer after saving) puts in README.md."""
    folder = tmp_path / "dpo"
    shutil.copytree(run / "sft", folder)
    argv = ["recipes/dpo.py", "--config", "recipes/tiny/dpo.yaml", "--output_dir", str(folder)]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.chdir(REPO)
    metrics = {"train_steps": 6, "beta": 0.1, "test": {"reward_accuracy_after": 0.6878}, "data": {"test_pairs": 9}}
    prompts = str(run / "data/prompts.jsonl")
    write_training_card(folder, "dpo", metrics, base_model=str(run / "sft"), datasets=[prompts])
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert f"python recipes/dpo.py --config recipes/tiny/dpo.yaml --output_dir {folder}" in text
    assert (REPO / "recipes/tiny/dpo.yaml").read_text(encoding="utf-8").rstrip() in text  # the YAML itself
    assert "| test.reward_accuracy_after | 0.6878 |" in text and "| beta | 0.1 |" in text and "test_pairs" not in text
    assert f"- `{prompts}` (2 records, " in text
    parameters = XuanYuanForCausalLM.from_pretrained(folder).num_parameters()
    assert count_parameters(folder) == parameters and f"{parameters:,} parameters." in text
    assert "base_model" not in text.split("---")[1]  # a local folder is no Hub id
    assert "renders that conversation as:\n\n```\n什么是市盈率？ \n```" in text  # by the saved tokenizer


def test_the_card_finds_the_config_however_the_command_line_names_it():
    assert config_options(["--output_dir", "o", "--config", "a.yaml"]) == ["a.yaml"]
    assert config_options(["--config=a.yaml", "--seed", "0"]) == ["a.yaml"]
    assert config_options(["--output_dir", "o"]) == [] and config_options(["--config"]) == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_of_model_gets_a_card_with_its_headline_numbers(kind):
    metrics = {}
    for index, key in enumerate(KINDS[kind].metrics):  # a distinct number under every key the kind shows
        *parents, leaf = key.split(".")
        node = metrics
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = 1000 + index
    text = render_model_card(training_card(kind, "m", base_model="org/base", metrics=metrics, parameters=2_000_000))
    for index, key in enumerate(KINDS[kind].metrics):
        assert f"| {key} | {1000 + index} |" in text, key
    assert "base_model: org/base" in text and KINDS[kind].stage in text and KINDS[kind].summary in text
    assert "## Intended use and limits" in text and "2.0 M parameters it is a demonstration model" in text


# The `release` stage each pipeline.yaml gets (last, after every model and evaluation): paths chain stages there only.
@pytest.mark.parametrize("size", ["tiny", "xuanyuan-6b"])
def test_the_release_stage_fits_its_pipeline(size):
    """The stage parses with the recipe and its YAML, reads under output_dir only what earlier stages wrote, and
    names as models only folders that model-making stages write, each a kind of model the release knows."""
    from xuanyuan.cli import parse_recipe_args
    from xuanyuan.release import StageRun, model_kind, producing_stage

    state = load_script("recipes/pipeline_state.py")
    config = yaml.safe_load((REPO / "recipes" / size / "pipeline.yaml").read_text(encoding="utf-8"))
    *earlier, release = state.load_stages(config, "/o")
    assert release.name == "release"  # the last stage: it reads what every other stage made
    written = [Path(path) for stage in earlier for path in state.stage_paths(stage, "/o").outputs]
    paths = state.stage_paths(release, "/o")
    for path in {Path(path) for path in paths.others} - {Path(path) for path in paths.outputs}:
        assert not path.is_relative_to("/o") or any(path.is_relative_to(made) for made in written), path
    recipe = load_script("recipes/release.py")
    argv = release.command.split()[2:]
    old_cwd = os.getcwd()
    os.chdir(REPO)  # the YAML paths in the command are relative to the repository
    try:
        (args,) = parse_recipe_args([recipe.ReleaseArguments], argv=argv)
    finally:
        os.chdir(old_cwd)
    assert args.pipeline == f"recipes/{size}/pipeline.yaml"
    assert args.chat_model in [entry.split("=")[0] for entry in args.models]
    runs = [StageRun(stage.name, stage.command, metrics_file=stage.metrics) for stage in earlier]
    for entry in args.models:
        stage = producing_stage(Path(entry.split("=", 1)[1]), runs)
        assert stage is not None, entry
        kind = model_kind(stage) if Path(stage.script).stem != "grpo" else "grpo"  # no metrics to read here
        assert kind in KINDS or kind in ("bnb", "gptq"), (entry, kind)
