"""Rewrite the numbers in README.md from a pipeline report, so the README quotes a run rather than memory.

    python scripts/readme_numbers.py [--report outputs/tiny/report.json] [--readme README.md]
        [--seed_study outputs/seed_study/seed_study.md]

Only the block between `<!-- numbers:begin -->` and `<!-- numbers:end -->` is replaced: a sentence on the
machine and the total stage time, every stage's time, and a table of the numbers listed in NUMBERS below
(a dotted path into report.json, a label, a format). Edit NUMBERS to change what the README shows. A block
between `<!-- alignment:begin -->` and `<!-- alignment:end -->` becomes the alignment stage's table. With
`--seed_study`, the block between `<!-- seeds:begin -->` and `<!-- seeds:end -->` becomes that file (the
table scripts/seed_study.py writes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xuanyuan.utils.report_numbers import ReportNumber as Number

NUMBERS = (
    Number("stages.pretrain.seconds", "pretraining time", "{:.0f} s"),
    Number("stages.sft.seconds", "SFT time", "{:.0f} s"),
    Number("stages.ppo.seconds", "PPO time", "{:.0f} s"),
    Number("stages.ppl_init.metrics.perplexity", "held-out perplexity, random init", "{:.0f}"),
    Number("stages.ppl_pretrain.metrics.perplexity", "held-out perplexity after pretraining", "{:.2f}"),
    Number("stages.sft.metrics.eval_before.sft_loss", "SFT held-out loss before SFT", "{:.2f}"),
    Number("stages.sft.metrics.eval.sft_loss", "SFT held-out loss after SFT", "{:.2f}"),
    Number("stages.eval_reward.metrics.accuracy", "reward model accuracy, held-out prompts", "{:.3f}"),
    Number("stages.ppo.metrics.reward_first", "PPO reward, first step", "{:.2f}"),
    Number("stages.ppo.metrics.reward_last", "PPO reward, last step", "{:.2f}"),
    Number("stages.ppo.metrics.kl_last", "PPO KL to the SFT model, last step", "{:.2f}"),
    Number("stages.alignment.metrics.methods.sft.reward_mean", "mean reward, held-out prompts, SFT", "{:.2f}"),
    Number("stages.alignment.metrics.methods.ppo.reward_mean", "mean reward, held-out prompts, PPO", "{:.2f}"),
    Number("stages.alignment.metrics.methods.ppo.good", "PPO answers judged better than SFT's", "{}"),
    Number("stages.alignment.metrics.methods.ppo.same", "PPO answers judged the same as SFT's", "{}"),
    Number("stages.alignment.metrics.methods.ppo.bad", "PPO answers judged worse than SFT's", "{}"),
    Number("stages.exam_init.metrics.overall.num_questions", "exam questions (val, 5-shot)", "{}"),
    Number("stages.exam_init.metrics.overall.accuracy", "exam accuracy (blank form), random init", "{:.3f}"),
    Number("stages.exam_pretrain_blank.metrics.overall.accuracy", "exam accuracy after pretraining", "{:.3f}"),
    Number("stages.exam_sft_blank.metrics.overall.accuracy", "exam accuracy after SFT", "{:.3f}"),
    Number("stages.exam_sft_vs_pretrain.metrics.difference", "exam change SFT − pretraining", "{:+.3f}"),
    Number("stages.exam_sft_vs_pretrain.metrics.cluster_p_value", "its p-value (sign flips over facts)", "{:.3g}"),
    Number("stages.synthesize_pretrained.metrics.outputs.self_qa", "Self-QA items kept, pretrained generator", "{}"),
    Number("stages.synthesize.metrics.outputs.self_qa", "Self-QA items kept, the Self-QA generator", "{}"),
    Number("stages.synthesize.metrics.dropped", "Self-QA items set aside (each with its reason)", "{}"),
    Number("stages.sft_without_synthesis.metrics.eval.sft_loss", "SFT held-out loss, without them", "{:.2f}"),
    Number("stages.exam_synthesis_effect.metrics.baseline_accuracy", "exam accuracy, SFT without them", "{:.3f}"),
    Number("stages.exam_synthesis_effect.metrics.difference", "exam change from the synthesized items", "{:+.3f}"),
    Number("stages.exam_synthesis_effect.metrics.cluster_p_value", "its p-value", "{:.3g}"),
    Number("stages.exam_ppo_blank.metrics.overall.accuracy", "exam accuracy after PPO", "{:.3f}"),
    Number("stages.alignment.metrics.methods.ppo.exam_difference", "exam change PPO − SFT", "{:+.3f}"),
    Number("stages.exam_sft_letter.metrics.overall.accuracy", "exam accuracy after SFT, letter form", "{:.3f}"),
    Number("stages.filter_rl_prompts.metrics.prompts_kept", "RL prompts the filter kept (of 64 scored)", "{}"),
    Number("stages.dpo.metrics.test.reward_accuracy_after", "DPO held-out preference accuracy (0.5 before)", "{:.3f}"),
    Number("stages.grpo.metrics.reward_first", "GRPO weighted reward, first steps", "{:.2f}"),
    Number("stages.grpo.metrics.reward_last", "GRPO weighted reward, last steps", "{:.2f}"),
    Number("stages.raft.metrics.reward_first_round", "RAFT samples' mean reward, round 1", "{:.2f}"),
    Number("stages.raft.metrics.reward_last_round", "RAFT samples' mean reward, last round", "{:.2f}"),
    Number("stages.quantize_4bit.metrics.size.ratio_to_fp32", "NF4 model size / fp32", "{:.2f}"),
    Number("stages.quantize_4bit.metrics.perplexity_ratio", "NF4 perplexity / fp32", "{:.3f}"),
)
BEGIN, END = "<!-- numbers:begin -->", "<!-- numbers:end -->"
SEEDS_BEGIN, SEEDS_END = "<!-- seeds:begin -->", "<!-- seeds:end -->"
ALIGNMENT_BEGIN, ALIGNMENT_END = "<!-- alignment:begin -->", "<!-- alignment:end -->"
ALIGNMENT_STAGE = "alignment"  # its report section (eval/alignment.py's alignment.md) is the README's table


def lookup(report: dict, number: Number):
    try:
        return number.read(report)
    except KeyError as error:
        raise SystemExit(f"{error.args[0]} (see NUMBERS in {Path(__file__).name})") from None


def machine_sentence(report: dict) -> str:
    machine = report.get("machine", {})
    if "cpu_model" not in machine:
        return f"Measured on an unrecorded machine: {len(report['stages'])} stages"
    where = machine["cpu_model"] + (f" with {machine['cuda_name']}" if machine.get("cuda_name") else "")
    return (
        f"Measured on {where} ({machine['threads']} threads, {machine['precision']} training):"
        f" {len(report['stages'])} stages"
    )


def render(report: dict) -> str:
    """The numbers block's new contents, without the markers."""
    reused = [name for name, stage in report["stages"].items() if stage.get("reused")]
    if reused:
        raise SystemExit(f"the report reused {reused} from an earlier run: its times are not one run's; use --force")
    total = sum(stage["seconds"] for stage in report["stages"].values())
    times = ", ".join(f"{name} {stage['seconds']:.0f} s" for name, stage in report["stages"].items())
    memory = ", ".join(f"{name} {stage['peak_rss_mib']:.0f}" for name, stage in report["stages"].items()
                       if "peak_rss_mib" in stage)  # fmt: skip
    rows = [f"| {number.label} | {number.format.format(lookup(report, number))} |" for number in NUMBERS]
    return "\n".join(
        [
            f"{machine_sentence(report)} in {report['total_seconds']:.0f} s of wall time ({total:.0f} s in stages).",
            f"Stage times: {times}.",
            *([f"Peak resident memory per stage (MiB): {memory}."] if memory else []),
            "",
            "| number | value |",
            "|---|---:|",
            *rows,
        ]
    )


def alignment_table(report: dict) -> str:
    sections = report["stages"].get(ALIGNMENT_STAGE, {}).get("sections")
    if not sections:
        raise SystemExit(f"the report has no {ALIGNMENT_STAGE!r} stage with its table: run the whole main job")
    return "\n".join(line for line in sections[0].splitlines() if not line.startswith("#"))


def replace_block(text: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """`text` with what lies between the `begin` and `end` markers replaced by `block`."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise SystemExit(f"expected one {begin} … {end} block, in that order; add the markers where the numbers go")
    return text[: text.index(begin)] + f"{begin}\n{block.strip()}\n{end}" + text[text.index(end) + len(end) :]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, default=Path("outputs/tiny/report.json"))
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--seed_study", type=Path, help="seed_study.md of scripts/seed_study.py")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    text = replace_block(args.readme.read_text(encoding="utf-8"), render(report))
    if ALIGNMENT_BEGIN in text:
        text = replace_block(text, alignment_table(report), ALIGNMENT_BEGIN, ALIGNMENT_END)
    if args.seed_study:
        text = replace_block(text, args.seed_study.read_text(encoding="utf-8"), SEEDS_BEGIN, SEEDS_END)
    args.readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
