"""Read filled labelling sheets back: preference records for the reward model, and three-rater comparison counts.

    python recipes/import_labels.py --sheet outputs/tiny/labelling/sheet.csv --output_dir outputs/tiny/labels
    python recipes/import_labels.py --compare_sheet outputs/tiny/eval/alignment/rater/ppo/rater_sheet.csv \
        --output_dir outputs/tiny/labels

`--sheet` (a `recipes/sample_candidates.py` sheet, CSV or JSONL, with its `key.jsonl`) becomes `preferences.jsonl`,
which `recipes/reward.py --data_files` reads, and `import_report.json` (labelled, unlabelled, bad rows, records by
kind, rows per labeller). `--compare_sheet` (a rater sheet of `eval/compare.py` or `eval/alignment.py`, with its
`rater_key.csv`) becomes `rater_summary.json`: good / same / bad per rater and by majority, and the raters' agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportLabelsArguments:
    output_dir: str = field(metadata={"help": "Where preferences.jsonl and the summaries go."})
    sheet: str | None = field(default=None, metadata={"help": "A filled labelling sheet (.csv or .jsonl)."})
    key: str | None = field(default=None, metadata={"help": "Its key; default: key.jsonl next to the sheet."})
    labeller: str | None = field(default=None, metadata={"help": "The labeller of rows whose labeller is blank."})
    on_bad_record: str = field(default="error", metadata={"help": "'error', or 'skip' (to skipped_rows.jsonl)."})
    compare_sheet: str | None = field(default=None, metadata={"help": "A filled rater_sheet.csv."})
    compare_key: str | None = field(default=None, metadata={"help": "Default: rater_key.csv next to it."})
    compare_model: str = field(default="model", metadata={"help": "The model under test (compare.py model_name)."})


def main(args: ImportLabelsArguments) -> dict:
    from xuanyuan.cli import write_result
    from xuanyuan.data.records import write_jsonl, write_rejects

    if not args.sheet and not args.compare_sheet:
        raise SystemExit("error: give --sheet (a labelling sheet) and/or --compare_sheet (a rater sheet)")
    output, result = Path(args.output_dir), {}
    if args.sheet:
        from xuanyuan.data.synthesis.labelling import KEY, import_labels

        key = args.key or str(Path(args.sheet).with_name(KEY))
        records, report = import_labels(args.sheet, key, args.on_bad_record, args.labeller)
        write_jsonl(output / "preferences.jsonl", records)
        if args.on_bad_record == "skip":
            write_rejects(output / "skipped_rows.jsonl", report.rejects)
        result["labels"] = write_result(output, "import_report.json", report.to_dict())
    if args.compare_sheet:
        from xuanyuan.evaluation.judge import read_rater_sheet

        key = args.compare_key or str(Path(args.compare_sheet).with_name("rater_key.csv"))
        result["raters"] = write_result(
            output, "rater_summary.json", read_rater_sheet(args.compare_sheet, key, args.compare_model)
        )
    return result


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([ImportLabelsArguments])
    main(arguments)
