"""benchmarks/harness.py: rounds alternate the order of the sides and drop the warm-up, ratios are per round,
a mismatch stops a benchmark before timing, and a loss is rendered as a loss."""

import sys

import pytest
import torch
from script_loading import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import harness  # noqa: E402


def test_rounds_alternate_order_and_drop_the_warmup():
    calls, values = [], iter(range(100))

    def side(name):
        def measure():
            calls.append(name)
            return next(values)

        return measure

    measured = harness.measure_rounds({"a": side("a"), "b": side("b"), "c": side("c")}, repeats=2, warmup=1)
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    # round 0 (values 0-2) is the warm-up; round 1 ran c, b, a (3, 4, 5); round 2 ran a, b, c (6, 7, 8)
    assert measured == {"a": [5, 6], "b": [4, 7], "c": [3, 8]}


def test_paired_ratios_are_per_round_and_above_one_when_ours_is_better():
    ours, theirs = iter([2.0, 1.0, 4.0]), iter([1.0, 1.0, 1.0])
    mine, baseline, ratio = harness.paired(lambda: next(ours), lambda: next(theirs), repeats=3, warmup=0)
    assert ratio.values == [2.0, 1.0, 4.0] and ratio.median == 2.0
    seconds_ours, seconds_theirs = iter([2.0, 4.0]), iter([1.0, 8.0])
    _, _, ratio = harness.paired(lambda: next(seconds_ours), lambda: next(seconds_theirs), 2, 0, lower_is_better=True)
    assert ratio.values == [0.5, 2.0]


@pytest.mark.parametrize(
    ("low", "median", "high", "verdict"),
    [
        (1.1, 1.2, 1.3, "win"),
        (0.8, 0.9, 0.95, "**loss**"),
        (0.9, 1.02, 1.1, "tie, median above 1"),
        (0.9, 0.98, 1.1, "**tie, median below 1**"),
        (1.0, 1.0, 1.0, "tie"),
    ],
)
def test_verdicts(low, median, high, verdict):
    row = harness.Row("rate", "tokens/s", harness.single(1.0), harness.single(1.0), {"median": median,
                      "min": low, "max": high, "n": 3})  # fmt: skip
    section = harness.Section("k", "title", "the baseline", "the work", "the check", rows=[row])
    rendered = harness.render(section.to_dict())
    assert f"| {verdict} |" in rendered and "the baseline" in rendered and "the check" in rendered


def test_the_command_line_leaves_out_the_json_option():
    argv = ["benchmarks/x.py", "--model", "a b", "--json", "/tmp/x.json", "--fp32"]
    assert harness.command_line(argv, drop=("--json",)) == "python benchmarks/x.py --model 'a b' --fp32"


def test_a_mismatch_raises_before_anything_is_timed():
    assert "max abs difference 0" in harness.check_close("same", torch.ones(3), torch.ones(3), atol=1e-6)
    with pytest.raises(harness.MismatchError, match="exceeds"):
        harness.check_close("differ", torch.ones(3), torch.ones(3) + 1e-3, atol=1e-6)
    with pytest.raises(harness.MismatchError, match="shapes"):
        harness.check_close("shapes", torch.ones(3), torch.ones(4), atol=1.0)
