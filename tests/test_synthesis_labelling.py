"""Candidate sampling for preference labelling, the labelling sheet's round trip into reward-model records, and the
three-rater comparison sheet read back: every expectation below is written out by hand."""

from __future__ import annotations

import codecs
import csv
import json
import pickle
import re
from pathlib import Path

import pytest
from script_loading import load_script
from synthesis_helpers import ScriptedGenerator, save_tiny_model

from xuanyuan import XuanYuanForCausalLM
from xuanyuan.cli import parse_recipe_args
from xuanyuan.data.conversations import load_prompts
from xuanyuan.data.preferences import load_preference_pairs
from xuanyuan.data.records import RecordError, SheetError, write_jsonl
from xuanyuan.data.synthesis.candidates import sample_candidates
from xuanyuan.data.synthesis.labelling import import_labels, parse_label, write_labelling_sheet
from xuanyuan.data.synthesis.runner import SynthesisRun
from xuanyuan.evaluation.generation import Sampling
from xuanyuan.evaluation.judge import fleiss_kappa, read_rater_sheet, write_rater_sheet

REPO = Path(__file__).resolve().parents[1]
sample_recipe = load_script("recipes/sample_candidates.py")
import_recipe = load_script("recipes/import_labels.py")
reward_recipe = load_script("recipes/reward.py")


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def candidate(generator: str, sample: int, response: str) -> dict:
    return {"generator": generator, "sample": sample, "response": response}


# Responses with commas, quotes and line breaks, so the CSV must quote them.
JIA, YI, BING, DING = "甲：利率上升，债券价格下降。", '乙："债券"价格\n随利率上升。', "丙：看久期。", "丁：不知道。"
ITEMS = [
    {"id": "two", "prompt": user("利率上升时债券价格如何变化？"), "category": "concept",
     "candidates": [candidate("sft", 0, JIA), candidate("ppo", 0, YI)]},
    {"id": "three", "prompt": user("什么是久期？"), "category": "concept",
     "candidates": [candidate("sft", 0, JIA), candidate("sft", 1, YI), candidate("ppo", 0, BING)]},
    {"id": "four", "prompt": [{"role": "system", "content": "你是金融助手。"}, *user("比较两只债券。")],
     "category": "comparison",
     "candidates": [candidate("sft", 0, JIA), candidate("sft", 1, YI), candidate("ppo", 0, BING),
                    candidate("ppo", 1, DING)]},
    {"id": "tie", "prompt": user("你好"), "category": "general",
     "candidates": [candidate("sft", 0, JIA), candidate("ppo", 0, YI)]},
    {"id": "blank", "prompt": user("再见"), "category": "general",
     "candidates": [candidate("sft", 0, JIA), candidate("ppo", 0, YI)]},
]  # fmt: skip


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def save_csv(path: Path, rows: list[dict]) -> None:
    """As a spreadsheet saves "CSV UTF-8": with a BOM and CRLF line ends."""
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def letters_of(row: dict) -> dict[str, str]:
    """Response text -> its letter on this row, as a labeller reading the sheet sees it."""
    return {text: column[-1] for column, text in row.items() if column.startswith("response_") and text}


def fill(sheet: Path, labels: dict[str, tuple[str, str]]) -> None:
    """Write `labels` (id -> (label in terms of response texts, labeller)) into the CSV as a person would, the
    texts replaced by the letters they were given on that row."""
    rows = read_csv(sheet)
    for row in rows:
        if row["id"] in labels:
            label, labeller = labels[row["id"]]
            for text, letter in letters_of(row).items():
                label = label.replace(text, letter)
            row["label"], row["labeller"] = label, labeller
    save_csv(sheet, rows)


# --- labels ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "letters", "parsed"),
    [
        ("B2", "AB", "B2"),
        (" a0 ", "AB", "A0"),
        ("B>A", "AB", [["B"], ["A"]]),
        ("C>A>B", "ABC", [["C"], ["A"], ["B"]]),
        ("A=B>C", "ABC", [["A", "B"], ["C"]]),
        ("d > a=b > c", "ABCD", [["D"], ["A", "B"], ["C"]]),
        ("Ｂ＞Ａ＞Ｃ", "ABC", [["B"], ["A"], ["C"]]),  # typed with a Chinese input method
    ],
)
def test_labels_parse_into_strengths_or_tie_groups(text, letters, parsed):
    assert parse_label(text, letters) == parsed


@pytest.mark.parametrize(
    ("text", "letters", "problem"),
    [
        ("A4", "AB", "unknown strength label 'A4'"),
        ("B>>A", "AB", "'B>>A' is neither a strength label"),
        ("C>A", "AB", "names C, but this row has responses A–B only"),
        ("A>A>B", "AB", "names A more than once"),
        ("A>B", "ABC", "leaves out C"),
        ("A3", "ABC", "compares two responses but this row has 3"),
        ("好", "AB", "neither a strength label"),
    ],
)
def test_bad_labels_say_what_is_wrong(text, letters, problem):
    with pytest.raises(ValueError, match=problem):
        parse_label(text, letters)


# --- the labelling sheet's round trip --------------------------------------------------------------------------


@pytest.fixture
def sheet(tmp_path) -> Path:
    write_labelling_sheet(ITEMS, tmp_path, seed=3)
    return tmp_path


def test_sheet_is_blind_readable_and_keyed(sheet):
    raw = (sheet / "sheet.csv").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = read_csv(sheet / "sheet.csv")
    columns = ["id", "prompt", "response_A", "response_B", "response_C", "response_D", "label", "labeller"]
    assert list(rows[0]) == columns
    assert [json.loads(line) for line in (sheet / "sheet.jsonl").read_text("utf-8").splitlines()] == rows
    key = {row["id"]: row for row in map(json.loads, (sheet / "key.jsonl").read_text("utf-8").splitlines())}
    for item, row in zip(ITEMS, rows, strict=True):
        assert row["id"] == item["id"] and row["label"] == row["labeller"] == ""
        assert key[item["id"]]["prompt"] == item["prompt"] and key[item["id"]]["category"] == item["category"]
        shown = {letter: entry for letter, entry in key[item["id"]]["responses"].items()}
        assert sorted(shown.values(), key=json.dumps) == sorted(item["candidates"], key=json.dumps)
        for letter, entry in shown.items():
            assert row[f"response_{letter}"] == entry["response"]
    assert rows[2]["prompt"] == "系统：你是金融助手。\n用户：比较两只债券。"
    four = [e["generator"] + str(e["sample"]) for e in key["four"]["responses"].values()]
    assert four != ["sft0", "sft1", "ppo0", "ppo1"]  # shuffled (seed 3), not in generator order
    write_labelling_sheet(ITEMS[::-1], sheet / "again", seed=3)  # per prompt: the same letters in any item order
    assert {r["id"]: r for r in read_csv(sheet / "again" / "sheet.csv")} == {r["id"]: r for r in rows}


LABELS = {
    "two": (f"{JIA}2", "王五"),  # the 甲 response better, strength 2, whichever letter it got
    "three": (f"{BING}>{JIA}>{YI}", "王五"),
    "four": (f"{JIA}={YI}>{BING}>{DING}", ""),  # labeller left blank: the import's default labeller
    "tie": (f"{YI}0", "赵六"),  # near tie: kept in the records, dropped by the reward loader by default
}
EXPECTED_PAIRS = {  # (record id, chosen, rejected, strength) as load_preference_pairs should give them
    ("two", JIA, YI, 2),
    ("three:0>1", BING, JIA, None), ("three:0>2", BING, YI, None), ("three:1>2", JIA, YI, None),
    ("four:A>C", JIA, BING, None), ("four:A>D", JIA, DING, None), ("four:B>C", YI, BING, None),
    ("four:B>D", YI, DING, None), ("four:C>D", BING, DING, None),
}  # fmt: skip


def imported(sheet: Path) -> tuple[Path, dict]:
    fill(sheet / "sheet.csv", LABELS)
    records, report = import_labels(sheet / "sheet.csv", sheet / "key.jsonl", default_labeller="李四")
    write_jsonl(sheet / "preferences.jsonl", records)
    return sheet / "preferences.jsonl", report.to_dict()


def test_filled_sheet_imports_into_the_pairs_that_were_labelled(sheet):
    path, report = imported(sheet)
    data = load_preference_pairs(path)
    # "four" got letters at random: its pair ids name letters, so map them back through the sheet
    row = next(r for r in read_csv(sheet / "sheet.csv") if r["id"] == "four")
    letter = letters_of(row)
    expected = {
        (f"four:{letter[c]}>{letter[r]}" if i.startswith("four") else i, c, r, s) for i, c, r, s in EXPECTED_PAIRS
    }
    assert {(p.id, p.chosen, p.rejected, p.strength) for p in data.pairs} == expected
    assert data.dropped_ties == 1 and not data.skipped
    with_ties = load_preference_pairs(path, drop_ties=False).pairs
    assert {(p.chosen, p.rejected, p.strength) for p in with_ties if p.id == "tie"} == {(YI, JIA, 0)}
    assert all(p.category == next(i["category"] for i in ITEMS if p.id.startswith(i["id"])) for p in data.pairs)
    assert next(p for p in data.pairs if p.id == "four:" + letter[JIA] + ">" + letter[BING]).prompt == tuple(
        ITEMS[2]["prompt"]
    )
    assert report == {
        "rows": 5, "labelled": 4, "unlabelled": 1, "all_tied": 0, "bad": 0, "not_in_sheet": [],
        "records": {"label": 2, "ranked": 1, "pair": 5}, "labellers": {"王五": 2, "李四": 1, "赵六": 1},
    }  # fmt: skip
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert {r["id"].split(":")[0]: r["labeller"] for r in records} == {"two": "王五", "three": "王五",
                                                                       "four": "李四", "tie": "赵六"}  # fmt: skip
    ranked = next(r for r in records if r["id"] == "three")  # best first: 丙 (ppo 0), 甲 (sft 0), 乙 (sft 1)
    assert ranked["sources"] == [{"generator": "ppo", "sample": 0}, {"generator": "sft", "sample": 0},
                                 {"generator": "sft", "sample": 1}]  # fmt: skip


def test_imported_records_train_a_reward_model_a_step(sheet, tmp_path):
    path, _ = imported(sheet)
    save_tiny_model(XuanYuanForCausalLM, tmp_path / "lm")
    args = [
        "--config", str(REPO / "recipes" / "tiny" / "reward.yaml"), "--model_name_or_path", str(tmp_path / "lm"),
        "--data_files", str(path), "--output_dir", str(tmp_path / "rm"), "--two_stage", "false",
        "--test_fraction", "0.34", "--max_steps", "1", "--report_to", "none", "--per_device_train_batch_size", "4",
    ]  # fmt: skip
    report = reward_recipe.main(*reward_recipe.parse_args(args))
    assert report["selected"]["checkpoint"] and (tmp_path / "rm" / "model.safetensors").exists()


def test_bad_labels_name_the_sheet_row_and_column(sheet):
    rows = read_csv(sheet / "sheet.csv")
    cases = {"two": "A4", "three": "B>>A", "tie": "C>A", "four": "A>B>C"}
    for item_id, label in cases.items():
        filled = [dict(r, label=label if r["id"] == item_id else "") for r in rows]
        save_csv(sheet / "bad.csv", filled)
        row_number = 2 + [r["id"] for r in rows].index(item_id)  # the header is row 1
        with pytest.raises(SheetError, match=rf"bad\.csv, row {row_number}, column 'label': .*'{re.escape(label)}'"):
            import_labels(sheet / "bad.csv", sheet / "key.jsonl")
    # the same in a JSONL sheet: the line and field
    lines = [dict(r, label="A4" if r["id"] == "tie" else "") for r in rows]
    write_jsonl(sheet / "bad.jsonl", lines)
    with pytest.raises(RecordError, match=r"bad\.jsonl, line 4, field 'label': unknown strength label"):
        import_labels(sheet / "bad.jsonl", sheet / "key.jsonl")
    error = SheetError(str(sheet / "bad.csv"), 3, "label", "x")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_skipping_bad_rows_sets_them_aside_with_the_reason(sheet):
    rows = read_csv(sheet / "sheet.csv")
    edited = {"two": dict(label="B1"), "three": dict(label="A4"), "four": dict(response_B="改过的回答")}
    save_csv(sheet / "sheet.csv", [dict(r, **edited.get(r["id"], {})) for r in rows] + [dict(rows[0], id="nope")])
    records, report = import_labels(sheet / "sheet.csv", sheet / "key.jsonl", on_bad_record="skip")
    assert [r["id"] for r in records] == ["two"] and report.labelled == 1 and report.unlabelled == 2
    assert report.bad == 3 and report.rows == 6
    problems = {(r["record"]["id"], r["field"]) for r in report.rejects}
    assert problems == {("three", "label"), ("four", "response_B"), ("nope", "id")}
    assert any("differs from the key" in r["problem"] for r in report.rejects)


def test_all_tied_ranking_is_counted_not_recorded(sheet):
    fill(sheet / "sheet.csv", {"three": (f"{JIA}={YI}={BING}", "王五")})
    records, report = import_labels(sheet / "sheet.csv", sheet / "key.jsonl")
    assert records == [] and report.all_tied == 1 and report.labelled == 1 and report.unlabelled == 4


# --- candidate sampling ----------------------------------------------------------------------------------------


def scripted(name: str, replies: dict[str, list[str]]) -> ScriptedGenerator:
    """Replies fixed per prompt text, so which ones repeat is known."""
    return ScriptedGenerator(name, lambda text, sample: replies[text][sample])


def test_sampling_drops_empty_and_repeated_responses_with_reasons(tmp_path):
    prompts = [{"id": q, "prompt": user(q), "category": None} for q in ("q1", "q2", "q3")]
    first = scripted("a", {"q1": ["x", "y"], "q2": ["same", "same"], "q3": ["p", "q"]})
    second = scripted("b", {"q1": ["x", "z"], "q2": ["", "same"], "q3": ["r", "s"]})
    sampling = Sampling(max_new_tokens=8, temperature=1.0, top_p=0.9, num_samples=2)
    run = SynthesisRun(tmp_path / "run", seed=1)
    kept = sample_candidates(run, prompts, [first, second], sampling, chunk_size=2)
    assert [(k["id"], [(c["generator"], c["sample"], c["response"]) for c in k["candidates"]]) for k in kept] == [
        ("q1", [("a", 0, "x"), ("a", 1, "y"), ("b", 1, "z")]),
        ("q3", [("a", 0, "p"), ("a", 1, "q"), ("b", 0, "r"), ("b", 1, "s")]),
    ]
    summary = run.finish({"candidates": kept}, [first, second])
    assert [(s["step"], s["items_in"], s["items_out"], s["dropped"]) for s in summary["funnel"]] == [
        ("sample", 3, 3, {}),
        ("distinct_responses", 12, 8, {"duplicate_response": 3, "empty_response": 1}),
        ("enough_responses", 3, 2, {"too_few_responses": 1}),
    ]
    dropped = [json.loads(line) for line in (tmp_path / "run" / "dropped.jsonl").read_text("utf-8").splitlines()]
    assert [(d["step"], d["item"].get("prompt_id", d["item"].get("id")), d["reason"]) for d in dropped] == [
        ("distinct_responses", "q1", "duplicate_response: same text as a sample 0"),
        ("distinct_responses", "q2", "duplicate_response: same text as a sample 0"),
        ("distinct_responses", "q2", "empty_response: the generator returned no text"),
        ("distinct_responses", "q2", "duplicate_response: same text as a sample 0"),
        ("enough_responses", "q2", "too_few_responses: 1 distinct response(s), a comparison needs 2"),
    ]
    assert (len(first.seeds), len(second.seeds)) == (2, 2)  # two chunks
    # resumed: the finished chunks are read back, nothing is generated again
    again = sample_candidates(SynthesisRun(tmp_path / "run", seed=1), prompts, [first, second], sampling, 2)
    assert again == kept and (len(first.seeds), len(second.seeds)) == (2, 2)
    with pytest.raises(ValueError, match="6 responses per prompt; a labelling sheet compares 2 to 4"):
        sample_candidates(run, prompts, [first, second, scripted("c", {})], sampling)


def test_prompts_come_from_sft_rl_and_plain_records(tmp_path):
    rows = [
        {"id": "s1", "messages": [*user("问一"), {"role": "assistant", "content": "答一"}], "category": "concept"},
        {"prompt": "问二"},
        {"id": "p3", "prompt": "问三", "source": "new"},
        {"id": "m4", "messages": [{"role": "system", "content": "系统"}, *user("问四")]},
    ]
    write_jsonl(tmp_path / "prompts.jsonl", rows)
    prompts, report = load_prompts(tmp_path / "prompts.jsonl")
    assert prompts == [
        {"id": "s1", "prompt": user("问一"), "category": "concept"},
        {"id": "prompts.jsonl:2", "prompt": user("问二"), "category": None},
        {"id": "p3", "prompt": user("问三"), "category": None},
        {"id": "m4", "prompt": [{"role": "system", "content": "系统"}, *user("问四")], "category": None},
    ]
    answers = [{"role": "assistant", "content": "答"}, {"role": "assistant", "content": "再答"}]
    bad = {"id": "b", "messages": [*user("问"), *answers]}  # two replies: no user turn to continue
    write_jsonl(tmp_path / "bad.jsonl", [rows[0], bad, rows[0]])
    with pytest.raises(RecordError, match=r"bad\.jsonl, line 2, field 'messages': expected turns ending"):
        load_prompts(tmp_path / "bad.jsonl")
    kept, report = load_prompts(tmp_path / "bad.jsonl", "skip", tmp_path / "skipped.jsonl")
    assert [p["id"] for p in kept] == ["s1"] and report.skipped == 2
    assert "duplicate id 's1'" in (tmp_path / "skipped.jsonl").read_text("utf-8")


# --- the recipes, end to end with a tiny random model -----------------------------------------------------------


def test_recipes_sample_a_sheet_and_import_it(tmp_path):
    for seed in (0, 1):
        save_tiny_model(XuanYuanForCausalLM, tmp_path / f"lm{seed}", seed=seed)
    write_jsonl(tmp_path / "prompts.jsonl", [{"id": f"q{i}", "prompt": f"问题{i}"} for i in range(3)])
    (args,) = parse_recipe_args(
        [sample_recipe.SampleCandidatesArguments],
        argv=["--config", str(REPO / "recipes/tiny/sample_candidates.yaml"), "--output_dir", str(tmp_path / "run"),
              "--prompt_files", str(tmp_path / "prompts.jsonl"), "--generators", str(tmp_path / "lm0"),
              str(tmp_path / "lm1"), "--max_new_tokens", "4"],
    )  # fmt: skip
    summary = sample_recipe.main(args)
    assert summary["outputs"]["candidates"] + summary["funnel"][-1]["dropped"].get("too_few_responses", 0) == 3
    rows = read_csv(tmp_path / "run" / "sheet.csv")
    assert len(rows) == summary["outputs"]["candidates"] >= 1
    assert set(summary["generators"]) == {str(tmp_path / "lm0"), str(tmp_path / "lm1")}
    for row in rows:  # the labeller prefers the longest response, ties by letter
        shown = sorted(letters_of(row).values(), key=lambda x: (-len(row[f"response_{x}"]), x))
        row["label"] = ">".join(shown)
    save_csv(tmp_path / "run" / "sheet.csv", rows)
    result = import_recipe.main(
        import_recipe.ImportLabelsArguments(
            output_dir=str(tmp_path / "labels"), sheet=str(tmp_path / "run/sheet.csv"), labeller="王五"
        )  # fmt: skip
    )
    assert result["labels"]["labelled"] == len(rows) and result["labels"]["labellers"] == {"王五": len(rows)}
    pairs = load_preference_pairs(tmp_path / "labels" / "preferences.jsonl").pairs
    assert len(pairs) == sum(len(letters_of(r)) * (len(letters_of(r)) - 1) // 2 for r in rows)


# --- the three-rater comparison sheet ----------------------------------------------------------------------------

# What each rater judged, item by item, for the model ("ppo") against the baseline ("sft"); "" = left blank.
RATED = [
    ("good", "good", "good"),
    ("same", "same", "same"),
    ("good", "good", "same"),
    ("good", "same", "bad"),
    ("bad", "bad", ""),
    ("", "", "bad"),
]
JUDGE = ["good", "same", "bad", "good", "bad", "same"]


def test_fleiss_kappa_matches_a_hand_computation():
    # items (good, same, bad): P_i = 1, 1, 1/3, 0 -> mean 7/12; p = 6/12, 5/12, 1/12 -> P_e = 62/144 = 31/72;
    # kappa = (7/12 - 31/72) / (1 - 31/72) = (11/72) / (41/72) = 11/41
    assert fleiss_kappa([[3, 0, 0], [0, 3, 0], [2, 1, 0], [1, 1, 1]]) == pytest.approx(11 / 41)
    assert fleiss_kappa([[3, 0, 0], [0, 3, 0]]) == pytest.approx(1.0)
    assert fleiss_kappa([[3, 0, 0], [3, 0, 0]]) is None and fleiss_kappa([]) is None


@pytest.fixture
def rater_sheet(tmp_path) -> Path:
    n = len(RATED)
    answers = {"ppo": [f"PPO答{i}" for i in range(n)], "sft": [f"SFT答{i}" for i in range(n)]}
    prompts = [user(f"问题{i}") for i in range(n)]
    write_rater_sheet(tmp_path / "rater_sheet.csv", tmp_path / "rater_key.csv", [f"q{i}" for i in range(n)],
                      prompts, answers, JUDGE, seed=5)  # fmt: skip
    rows = read_csv(tmp_path / "rater_sheet.csv")
    for row, outcomes in zip(rows, RATED, strict=True):  # the raters read the answers, not the key
        ppo_slot = "1" if row["answer_1"].startswith("PPO") else "2"
        sft_slot = "2" if ppo_slot == "1" else "1"
        written = {"good": ppo_slot, "bad": sft_slot, "same": "same", "": ""}
        for rater, outcome in zip(("rater_1", "rater_2", "rater_3"), outcomes, strict=True):
            row[rater] = written[outcome]
    rows[1]["rater_2"] = " Same "  # spelling variants a person writes
    rows[0]["rater_3"] = rows[0]["rater_3"].replace("1", "１").replace("2", "２")  # full-width digit
    save_csv(tmp_path / "rater_sheet.csv", rows)
    return tmp_path


def test_rater_sheet_reads_back_into_the_hand_counted_outcomes(rater_sheet):
    summary = read_rater_sheet(rater_sheet / "rater_sheet.csv", rater_sheet / "rater_key.csv", "ppo")
    assert summary["model"] == "ppo" and summary["baseline"] == "sft" and summary["num_items"] == 6
    assert summary["per_rater"] == {
        "rater_1": {"good": 3, "same": 1, "bad": 1, "unrated": 1},
        "rater_2": {"good": 2, "same": 2, "bad": 1, "unrated": 1},
        "rater_3": {"good": 1, "same": 2, "bad": 2, "unrated": 1},
    }
    assert summary["majority"] == {"good": 2, "same": 1, "bad": 1, "no_majority": 2, "win_rate": 2 / 6,
                                   "decided_win_rate": 2 / 3}  # fmt: skip
    assert summary["agreement"] == {"items_rated_by_all": 4, "all_agree": 0.5, "fleiss_kappa": pytest.approx(11 / 41)}
    assert summary["majority_agrees_with_judge"] == 0.75  # items 0, 1, 4 agree, item 2 (good vs bad) does not
    flipped = read_rater_sheet(rater_sheet / "rater_sheet.csv", rater_sheet / "rater_key.csv", "sft")
    assert flipped["per_rater"]["rater_1"] == {"good": 1, "same": 1, "bad": 3, "unrated": 1}


def test_bad_ratings_name_the_sheet_row_and_column(rater_sheet):
    rows = read_csv(rater_sheet / "rater_sheet.csv")
    rows[3]["rater_2"] = "3"
    save_csv(rater_sheet / "rater_sheet.csv", rows)
    with pytest.raises(SheetError, match=r"rater_sheet\.csv, row 5, column 'rater_2': '3': write 1, 2 or same"):
        read_rater_sheet(rater_sheet / "rater_sheet.csv", rater_sheet / "rater_key.csv", "ppo")
    with pytest.raises(SheetError, match=r"rater_key\.csv, row 2, column 'answer_1_model'.*'gpt' is neither"):
        read_rater_sheet(rater_sheet / "rater_sheet.csv", rater_sheet / "rater_key.csv", "gpt")


def test_import_recipe_writes_the_rater_summary(rater_sheet):
    result = import_recipe.main(
        import_recipe.ImportLabelsArguments(output_dir=str(rater_sheet / "out"),
                                            compare_sheet=str(rater_sheet / "rater_sheet.csv"), compare_model="ppo")
    )  # fmt: skip
    saved = json.loads((rater_sheet / "out" / "rater_summary.json").read_text("utf-8"))
    assert saved["majority"]["good"] == result["raters"]["majority"]["good"] == 2
