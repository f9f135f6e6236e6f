"""One table of every alignment method against the SFT model they all started from (same prompts, same judge).

    python eval/alignment.py --baseline sft=outputs/tiny/sft --models ppo=outputs/tiny/ppo dpo=outputs/tiny/dpo \
        --reward_model outputs/tiny/reward --prompt_files outputs/tiny/data/sft/test.jsonl \
        --exclude_prompt_files outputs/tiny/data/rl/prompts.jsonl outputs/tiny/data/preference/pairs.jsonl \
        --exam_dir outputs/tiny/data/exam --exam_answers outputs/tiny/data/exam/answers.jsonl \
        --output_dir outputs/tiny/eval/alignment

Per method: mean reward-model reward, KL to SFT, wins/ties/losses against SFT under the order-swapped reward-model
judge, exam accuracy (blank form) with its paired p-value against SFT, answer length and the wall time of the
pipeline stages that made it (`--stage_times ppo=filter_rl_prompts+ppo`, read from `--pipeline_state`). Exam
results already made with the same settings are reused (`--exam_results sft=…/results.json`). Writes
alignment.json / alignment.md / alignment.png and answers.jsonl (see `xuanyuan.evaluation.alignment`), and per
method a blind sheet for three human raters against SFT, `rater/<name>/rater_sheet.csv` with its `rater_key.csv`
(`recipes/import_labels.py --compare_sheet` reads it back filled).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from xuanyuan.chat_format import XUANYUAN_SYSTEM_PROMPT


@dataclass
class AlignmentArguments:
    baseline: str = field(metadata={"help": "name=path of the SFT model every method started from."})
    reward_model: str = field(metadata={"help": "The reward model: rewards and the pairwise judge."})
    output_dir: str = field(metadata={"help": "Where alignment.json / .md / .png and answers.jsonl go."})
    models: list[str] = field(default_factory=list, metadata={"help": "name=path of each aligned model."})
    prompt_files: list[str] = field(default_factory=list, metadata={"help": "Held-out prompts (chat or prompt)."})
    exclude_prompt_files: list[str] = field(
        default_factory=list, metadata={"help": "Files the methods trained on: their questions are left out."}
    )
    max_prompts: int | None = field(default=48, metadata={"help": "The first N held-out prompts; None: all."})
    max_new_tokens: int = 48
    batch_size: int = 16
    system_prompt: str | None = field(
        default=XUANYUAN_SYSTEM_PROMPT, metadata={"help": "Put first where a prompt has no system turn (as in RL)."}
    )
    exam_dir: str | None = field(default=None, metadata={"help": "Exam in the C-Eval layout; None: no exam."})
    exam_split: str = "val"
    exam_num_fewshot: int = 5
    exam_scoring: str = "blank"
    exam_answers: str | None = field(default=None, metadata={"help": "answers.jsonl: questions grouped by fact."})
    exam_results: list[str] = field(
        default_factory=list, metadata={"help": "name=results.json made with the same exam settings, reused."}
    )
    pipeline_state: str | None = field(default=None, metadata={"help": "pipeline_state.json with stage times."})
    stage_times: list[str] = field(
        default_factory=list, metadata={"help": "name=stage+stage: the stages whose wall time made that model."}
    )
    seed: int = 0


def named(items: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise SystemExit(f"{flag} expects name=value, got {item!r}")
        if name in pairs:
            raise SystemExit(f"{flag} names {name!r} twice")
        pairs[name] = value
    return pairs


def wall_seconds(args: AlignmentArguments) -> dict[str, float]:
    if not args.pipeline_state or not Path(args.pipeline_state).exists():
        return {}
    stages = json.loads(Path(args.pipeline_state).read_text(encoding="utf-8"))["stages"]
    times = {}
    for name, wanted in named(args.stage_times, "--stage_times").items():
        seconds = [stages.get(stage, {}).get("seconds") for stage in wanted.split("+")]
        if all(s is not None for s in seconds):
            times[name] = float(sum(seconds))
    return times


def exam_results(args: AlignmentArguments, models: dict[str, str]) -> dict[str, Path]:
    """results.json per model: reused when given (settings checked), else scored now."""
    from xuanyuan.evaluation.mc_eval import MCEvalConfig, run_mc_eval

    given = {name: Path(path) for name, path in named(args.exam_results, "--exam_results").items()}
    wanted = {"split": args.exam_split, "num_fewshot": args.exam_num_fewshot, "scoring": args.exam_scoring}
    paths = {}
    for name, model in models.items():
        if name in given:
            settings = json.loads(given[name].read_text(encoding="utf-8"))["settings"]
            differing = {key: settings.get(key) for key, value in wanted.items() if settings.get(key) != value}
            if differing:
                raise SystemExit(f"{given[name]} was scored with {differing}, not {wanted}: score it again")
            paths[name] = given[name]
            continue
        folder = Path(args.output_dir, "exam", name)
        config = MCEvalConfig(model=model, output_dir=str(folder), data_dir=args.exam_dir, split=args.exam_split,
                              num_fewshot=args.exam_num_fewshot, scoring=args.exam_scoring)  # fmt: skip
        run_mc_eval(config)
        paths[name] = folder / "results.json"
    return paths


def main(args: AlignmentArguments) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed

    from xuanyuan.evaluation import alignment as al
    from xuanyuan.evaluation import paired
    from xuanyuan.evaluation.judge import RewardModelJudge, pairwise_compare, write_rater_sheet
    from xuanyuan.tokenization import load_tokenizer

    (baseline_name, baseline_path), = named([args.baseline], "--baseline").items()  # fmt: skip
    models = {baseline_name: baseline_path, **named(args.models, "--models")}
    held_out = al.held_out_prompts(args.prompt_files, args.exclude_prompt_files, args.max_prompts, args.system_prompt)
    if not held_out.ids:
        raise SystemExit(f"no held-out prompts left in {args.prompt_files} after excluding the training files")
    tokenizer = load_tokenizer(baseline_path)
    reward_model = AutoModelForSequenceClassification.from_pretrained(
        args.reward_model, num_labels=1, dtype=torch.float32
    )
    judge = RewardModelJudge(reward_model, load_tokenizer(args.reward_model), batch_size=args.batch_size)

    def load(path: str):
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()

    sft = load(baseline_path)
    answers = {}
    for name, path in models.items():
        set_seed(args.seed)  # every model samples its KL answers from the same seed
        model = sft if name == baseline_name else load(path)
        reference = None if name == baseline_name else sft
        answers[name] = al.answer_and_score(
            model, reference, judge, tokenizer, held_out.prompts, args.max_new_tokens, args.batch_size
        )
        print(f"{name}: reward {al.mean(answers[name].rewards):.3f}, KL {al.mean(answers[name].kl):.2f}")

    exams = exam_results(args, models) if args.exam_dir else {}
    clusters = paired.load_clusters(args.exam_answers, args.exam_split) if args.exam_answers else None
    times = wall_seconds(args)
    baseline = answers[baseline_name]
    correct = {name: paired.load_correctness(path) for name, path in exams.items()}
    rows = []
    for name, path in models.items():
        result = answers[name]
        comparison = pairwise_compare(judge, held_out.prompts, result.answers, baseline.answers)
        if name != baseline_name:
            sheets = Path(args.output_dir, "rater", name)
            sheets.mkdir(parents=True, exist_ok=True)
            write_rater_sheet(
                sheets / "rater_sheet.csv", sheets / "rater_key.csv", held_out.ids, held_out.prompts,
                {name: result.answers, baseline_name: baseline.answers}, comparison.outcomes, args.seed,
            )  # fmt: skip
        comparison = comparison.summary()
        row = al.MethodRow(
            name=name,
            path=path,
            reward_mean=al.mean(result.rewards),
            reward_vs_sft=al.mean(result.rewards) - al.mean(baseline.rewards),
            kl_to_sft=al.mean(result.kl),
            good=comparison["good"],
            same=comparison["same"],
            bad=comparison["bad"],
            answer_chars=al.mean([len(answer) for answer in result.answers]),
            wall_seconds=times.get(name),
        )
        if name == baseline_name and name in correct:
            row.exam_accuracy = sum(correct[name].values()) / len(correct[name])
        elif name in correct:  # the paired test against the baseline (its sign flips take a moment: once per model)
            exam = paired.compare(correct[name], correct[baseline_name], clusters)
            row.exam_accuracy, row.exam_difference, row.exam_p_value = (
                exam.accuracy,
                exam.difference,
                exam.cluster_p_value,
            )
        row.verdict = al.verdict(row, baseline_name)
        rows.append(row)
    report = al.write_outputs(rows, held_out, answers, baseline_name, args.exam_scoring, args.output_dir)
    print(al.markdown_table(rows, held_out, args.exam_scoring))
    return report


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([AlignmentArguments])
    main(arguments)
