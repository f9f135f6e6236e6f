"""The shared plotting helpers and the end-of-training pictures: loss series read from a hand-made log history,
PNGs that open with sensible sizes, bar labels that never overlap, and labels no font can draw."""

from __future__ import annotations

import logging
import struct
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset
from matplotlib import font_manager
from pretrain_setup import write_corpus, write_model

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.data.corpus import load_corpus
from xuanyuan.data.packing import pack_corpus
from xuanyuan.evaluation import plots
from xuanyuan.evaluation.reward_selection import (
    CheckpointEvaluation,
    SelectionLog,
    margin_curve,
    plot_margin_curve,
    plot_margin_histograms,
)
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.loss_curves import LOSS_CURVE_FILE, LossCurveCallback, loss_series, plot_loss_curves
from xuanyuan.training.ppo.monitoring import CURVES, plot_metrics
from xuanyuan.training.pretrain import PretrainConfig, PretrainTrainer
from xuanyuan.training.sft import XuanYuanSFTConfig, XuanYuanSFTTrainer

LOG_HISTORY = [
    {"loss": 4.0, "grad_norm": 1.5, "loss/finance": 4.5, "loss/web": 3.5, "mixture/web": 0.5, "step": 10},
    {"loss": 3.0, "loss/finance": 3.2, "token_share/source/pretrain": 0.2, "step": 20},
    {"eval_loss": 3.3, "eval_runtime": 1.0, "epoch": 1.0, "step": 20},
    {"eval_sft_loss": 2.5, "eval_sft_loss/category/calc": 2.4, "eval_sft_runtime": 0.5, "step": 20},
    {"loss": 2.0, "loss/finance": 2.1, "loss/web": 1.9, "step": 30},
    {"train_loss": 3.0, "train_runtime": 9.0, "step": 30},
]
LONG_LABELS = [f"corporate_finance_and_accounting_principles_{i}" for i in range(40)]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG signature and IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    return struct.unpack(">II", header[16:24])


def bar_chart(tmp_path: Path, labels: list[str]):
    with plots.figure(tmp_path / "bars.png", (plots.MIN_WIDTH, 3.6)) as (figure, axis):
        axis.bar(range(len(labels)), [0.5] * len(labels))
        plots.label_bars(figure, axis, labels)
    return figure, axis


# --- loss curves ---------------------------------------------------------------------------------------
def test_loss_series_reads_every_loss_by_split_and_group():
    assert loss_series(LOG_HISTORY) == {
        ("train", None): ([10, 20, 30], [4.0, 3.0, 2.0]),
        ("train", "finance"): ([10, 20, 30], [4.5, 3.2, 2.1]),
        ("train", "web"): ([10, 30], [3.5, 1.9]),
        ("eval", None): ([20], [3.3]),
        ("eval_sft", None): ([20], [2.5]),
        ("eval_sft", "category/calc"): ([20], [2.4]),
    }


def test_loss_curve_png(tmp_path):
    path = tmp_path / LOSS_CURVE_FILE
    plot_loss_curves(LOG_HISTORY, path, "pretraining", "domain")
    width, height = png_size(path)
    assert 600 <= width <= 1500 and 400 <= height <= 1000  # two 9 x 3.6 in panels at 100 dpi, legends beside


def test_callback_writes_on_the_main_process_only(tmp_path):
    callback = LossCurveCallback("SFT")
    for main, folder in ((False, tmp_path / "worker"), (True, tmp_path / "main")):
        folder.mkdir()
        state = SimpleNamespace(is_world_process_zero=main, log_history=LOG_HISTORY)
        callback.on_train_end(SimpleNamespace(output_dir=str(folder)), state, None)
        assert (folder / LOSS_CURVE_FILE).exists() == main


def test_pretrain_trainer_writes_its_loss_curve(tmp_path):
    model_dir, corpus = write_model(tmp_path / "model"), write_corpus(tmp_path / "corpus.jsonl", docs_per_domain=8)
    texts = load_corpus([corpus])
    dataset, _ = pack_corpus(load_tokenizer(model_dir), texts.texts, texts.domains, [64])
    args = PretrainConfig(output_dir=str(tmp_path / "out"), max_length=64, bucket_lengths=[64], max_steps=2,
                          per_device_train_batch_size=2, logging_steps=1, report_to="none", save_strategy="no",
                          use_cpu=True, lr_scheduler_kwargs={"min_lr": 1e-5})  # fmt: skip
    trainer = PretrainTrainer(XuanYuanForCausalLM.from_pretrained(model_dir), args, dataset)
    trainer.train()
    series = loss_series(trainer.state.log_history)
    assert series["train", None][0] == [1, 2]
    assert any(group is not None for _, group in series)  # per-domain lines
    assert png_size(tmp_path / "out" / LOSS_CURVE_FILE)[0] > 600


def test_sft_trainer_writes_its_loss_curve(tmp_path):
    tokenizer = load_tokenizer()
    config = XuanYuanConfig.from_preset("tiny", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2)  # fmt: skip
    torch.manual_seed(0)
    examples = [
        {"messages": [{"role": "user", "content": f"营业收入{i}?"}, {"role": "assistant", "content": f"{i}亿元"}],
         "category": "calc" if i % 2 else "fact"}
        for i in range(8)
    ]  # fmt: skip
    args = XuanYuanSFTConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to=[],
                             assistant_only_loss=True, max_length=64, per_device_train_batch_size=4, max_steps=2,
                             save_strategy="no", logging_steps=1, activation_checkpointing=False)  # fmt: skip
    trainer = XuanYuanSFTTrainer(XuanYuanForCausalLM(config), args, Dataset.from_list(examples),
                                 processing_class=tokenizer)  # fmt: skip
    trainer.train()
    groups = {group for split, group in loss_series(trainer.state.log_history) if split == "train"}
    assert {"category/calc", "category/fact", "source/sft"} <= groups
    assert png_size(tmp_path / "out" / LOSS_CURVE_FILE)[0] > 600


def test_reward_selection_plots(tmp_path):
    log = SelectionLog(stage_starts={"general": 0, "finance": 4})
    log.train_margins = {step: [0.1 * step, 0.2 * step - 0.5] for step in range(1, 9)}
    for stage, step in (("general", 4), ("finance", 8)):
        report, margins = {"finance": {"margin": {"mean": 0.1 * step}}}, {"finance": [0.1 * step, -0.2]}
        log.evaluations.append(CheckpointEvaluation(stage, 1.0, step, f"checkpoint-{step}", report, margins))
    plot_margin_curve(margin_curve(log.train_margins), log.stage_starts, log, tmp_path / "margin_curve.png")
    plot_margin_histograms(log, tmp_path / "margin_histograms.png")
    assert png_size(tmp_path / "margin_curve.png")[0] >= 900  # 9 in at 100 dpi, legend beside
    assert png_size(tmp_path / "margin_histograms.png")[1] >= 300


def test_ppo_curves_png(tmp_path):
    history = [{"step": s, "reward/score": 0.1 * s, "kl/ref": 0.01 * s} for s in range(1, 6)]
    plot_metrics(history, tmp_path / "ppo_curves.png", CURVES)
    width, height = png_size(tmp_path / "ppo_curves.png")
    assert 700 <= width <= 1100 and 250 <= height <= 450  # two 4.3 x 3.2 in panels side by side


# --- labels ---------------------------------------------------------------------------------------------
def test_wrap_breaks_at_words_and_underscores_and_ends_long_labels_in_an_ellipsis():
    assert plots.wrap("elementary_information_and_technology", 12, 3) == "elementary\ninformation\nand…"
    assert plots.wrap("STEM", 12, 3) == "STEM"


def test_figure_width_grows_with_the_number_of_labels(tmp_path):
    counts = (1, 3, 6, 10, 15, 20, 30, 40)  # side by side up to about 10, upright beyond
    widths = [bar_chart(tmp_path, LONG_LABELS[:n])[0].get_figwidth() for n in counts]
    assert widths[0] == plots.MIN_WIDTH
    assert widths == sorted(widths) and len(set(widths)) >= 5, widths


def test_forty_long_labels_do_not_overlap(tmp_path):
    figure, axis = bar_chart(tmp_path, LONG_LABELS)
    figure.canvas.draw()
    boxes = sorted((text.get_window_extent() for text in axis.get_xticklabels()), key=lambda box: box.x0)
    assert len(boxes) == 40
    assert all(left.x1 <= right.x0 for left, right in zip(boxes, boxes[1:], strict=False))
    assert boxes[0].x0 >= 0 and boxes[-1].x1 <= figure.bbox.width  # the figure is as wide as its labels
    png_size(tmp_path / "bars.png")


def test_few_short_labels_stay_level(tmp_path):
    _, axis = bar_chart(tmp_path, ["STEM", "Social Science", "Other", "overall"])
    assert {text.get_rotation() for text in axis.get_xticklabels()} == {0.0}


# --- fonts ----------------------------------------------------------------------------------------------
def write_font(path: Path, chars: str) -> Path:
    """A TrueType font whose only glyphs are squares for `chars`."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def square():
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0))
        pen.lineTo((100, 800))
        pen.lineTo((900, 800))
        pen.lineTo((900, 0))
        pen.closePath()
        return pen.glyph()

    names = {ord(c): f"uni{ord(c):04X}" for c in chars}
    glyphs = [".notdef", *names.values()]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(glyphs)
    builder.setupCharacterMap(names)
    builder.setupGlyf({name: square() for name in glyphs})
    builder.setupHorizontalMetrics({name: (1000, 100) for name in glyphs})
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": "Square Test CJK", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    builder.save(path)
    return path


@pytest.fixture
def fonts_without_cjk(monkeypatch):
    """matplotlib's font list with every font that has Chinese glyphs taken out."""
    probe = {ord(c) for c in plots.CJK_PROBE}
    kept = [f for f in font_manager.fontManager.ttflist if not probe <= plots._glyphs(f.fname)]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", kept)
    plots.fonts.cache_clear()
    plots._warn_missing_font.cache_clear()
    yield
    plots.fonts.cache_clear()


def test_without_a_cjk_font_labels_fall_back_to_ascii_with_one_warning(fonts_without_cjk, caplog):
    with caplog.at_level(logging.WARNING, logger=plots.__name__):
        assert plots.readable("financial_calculation", "subject 1") == "financial_calculation"
        assert plots.readable("金融计算", "subject 2") == "subject 2"
        assert plots.readable("财务报表", "subject 3") == "subject 3"
    assert len(caplog.records) == 1


def test_an_installed_cjk_font_draws_chinese_labels_without_missing_glyphs(fonts_without_cjk, tmp_path):
    font_manager.fontManager.addfont(str(write_font(tmp_path / "square.ttf", plots.CJK_PROBE + "财务报表")))
    plots.fonts.cache_clear()
    assert plots.fonts()[0] == ("sans-serif", "Square Test CJK")
    assert plots.readable("金融计算", "subject 1") == "金融计算"
    assert plots.readable("金融科技", "subject 2") == "subject 2"  # 科技: glyphs the font lacks
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bar_chart(tmp_path, ["金融计算 calculation", "财务报表 statements"])
    assert not [w for w in caught if "missing from font" in str(w.message)]
