"""`loss_curve.png`, written when training ends: training and held-out loss against the optimizer step and,
below, the same per group where the trainer logs `loss/<group>` (pretraining domains, SFT categories and
sources). Everything comes from the Trainer's `log_history`, so a resumed run draws the whole run."""

from __future__ import annotations

import re
from pathlib import Path

from transformers import TrainerCallback

from ..evaluation import plots

LOSS_CURVE_FILE = "loss_curve.png"
# "loss", "loss/<group>", "eval_loss", "eval_<set>_loss", "eval_<set>_loss/<group>"; not the run's mean `train_loss`
LOSS_KEY = re.compile(r"(?:(?P<split>eval\w*)_)?loss(?:/(?P<group>.+))?")
EVAL_MARKERS = "osD^v<>"

Series = tuple[list[int], list[float]]


def loss_series(log_history: list[dict]) -> dict[tuple[str, str | None], Series]:
    """Every logged loss as (steps, values), keyed (split, group): split "train" or the evaluation's metric
    prefix ("eval", "eval_sft", ...), group None for the overall loss, else its name ("finance", "category/x")."""
    series: dict[tuple[str, str | None], Series] = {}
    for entry in log_history:
        for key, value in entry.items():
            match = LOSS_KEY.fullmatch(key)
            if match and isinstance(value, int | float):
                steps, values = series.setdefault((match["split"] or "train", match["group"]), ([], []))
                steps.append(entry["step"])
                values.append(float(value))
    return series


def plot_loss_curves(log_history: list[dict], path: str | Path, title: str, group_kind: str = "group") -> None:
    """Top: the overall losses, one colour per split; below (if any): one colour per group. Training losses
    are lines, held-out losses dashed with their evaluation set's marker."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    series = loss_series(log_history)
    splits = ["train", *sorted({split for split, _ in series} - {"train"})]
    markers = {split: EVAL_MARKERS[i % len(EVAL_MARKERS)] for i, split in enumerate(splits[1:])}
    groups = sorted({group for _, group in series if group is not None})
    palette = colormaps["tab10" if len(groups) <= 10 else "tab20"].colors
    colors = {name: palette[i % len(palette)] for names in (splits, groups) for i, name in enumerate(names)}
    rows = 2 if groups else 1
    style = {"train": {"linewidth": 1.2}} | {s: {"marker": m, "linestyle": "--"} for s, m in markers.items()}
    with plots.figure(path, (9, 3.6 * rows), nrows=rows, sharex=True, squeeze=False) as (figure, axes):
        for (split, group), (steps, values) in series.items():
            axis = axes[0 if group is None else 1, 0]
            axis.plot(steps, values, color=colors[split if group is None else group], **style[split])
        plots.legend_beside(
            axes[0, 0], [Line2D([], [], color=colors[s], label=s, **style[s]) for s in splits if (s, None) in series]
        )
        axes[0, 0].set_title("overall")
        if not series:
            axes[0, 0].text(0.5, 0.5, "no loss logged", ha="center", transform=axes[0, 0].transAxes)
        if groups:
            names = [plots.readable(group, f"{group_kind} {i + 1}") for i, group in enumerate(groups)]
            handles = [Line2D([], [], color=colors[g], label=n) for g, n in zip(groups, names, strict=True)]
            grouped_splits = {split for split, group in series if group is not None} - {"train"}
            handles += [
                Line2D([], [], color="grey", label=f"{s} (held-out)", **style[s]) for s in sorted(grouped_splits)
            ]
            plots.legend_beside(axes[1, 0], handles)
            axes[1, 0].set_title(f"per {group_kind}")
        for axis in axes[:, 0]:
            axis.set_ylabel("loss per token")
        axes[-1, 0].set_xlabel("optimizer step")
        figure.suptitle(f"{title} loss")


class LossCurveCallback(TrainerCallback):
    """Writes `{output_dir}/loss_curve.png` from the log history at the end of training (main process only)."""

    def __init__(self, title: str, group_kind: str = "group"):
        self.title, self.group_kind = title, group_kind

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            path = Path(args.output_dir) / LOSS_CURVE_FILE
            plot_loss_curves(state.log_history, path, self.title, self.group_kind)
