"""Perplexity filter: tokenization, threshold arithmetic, KenLM training + routing, the HF backend."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import shutil
import statistics

import pytest
import torch
from datatrove.data import Document
from script_loading import load_script

from xuanyuan.data.processing.kenlm_tools import find_kenlm_tool
from xuanyuan.data.processing.lm_tokens import lm_sentences, lm_tokens
from xuanyuan.data.processing.perplexity import (
    HFScorer,
    PerplexityFilter,
    PerplexityFilterConfig,
    load_thresholds,
    percentile_key,
    reference_statistics,
    write_thresholds,
)
from xuanyuan.data.records import is_heldout


def load_recipe(name: str):
    return load_script(f"recipes/{name}.py")


def test_lm_tokens_cut_chinese_into_characters_and_english_into_lowercased_words():
    assert lm_tokens("招商银行ROE为12.5%，Don't ＰＡＮＩＣ２０２３！") == [
        "招", "商", "银", "行", "roe", "为", "00.0", "%", ",", "don't", "panic", "0000", "!",
    ]  # fmt: skip
    assert lm_sentences("First line.\n\n   \n第二行") == ["first line .", "第 二 行"]


def test_percentiles_match_hand_computed_linear_interpolation():
    stats = reference_statistics({"zh": [50.0, 10.0, 40.0, 20.0, 30.0], "en": [7.0]}, [50, 90, 99.5, 100])
    # sorted 10..50, rank = p/100 * (n-1): p90 -> 3.6 -> 40 + 0.6*10 = 46; p99.5 -> 3.98 -> 49.8
    assert stats["zh"]["percentiles"] == pytest.approx({"50": 30.0, "90": 46.0, "99.5": 49.8, "100": 50.0})
    assert stats["zh"]["documents"] == 5 and stats["zh"]["mean"] == pytest.approx(30.0)
    assert stats["en"]["percentiles"] == pytest.approx({"50": 7.0, "90": 7.0, "99.5": 7.0, "100": 7.0})
    assert [percentile_key(p) for p in (99, 99.0, 99.5)] == ["99", "99", "99.5"]


def test_threshold_file_errors_name_the_path_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "thresholds.json")):
        load_thresholds(tmp_path, "kenlm", 99)
    write_thresholds(tmp_path, "kenlm", reference_statistics({"zh": [1.0, 2.0]}, [50, 99]))
    assert load_thresholds(tmp_path, "kenlm", 99) == {"zh": pytest.approx(1.99)}
    with pytest.raises(ValueError, match="no percentile 95 for 'zh'; available: \\['50', '99'\\]"):
        load_thresholds(tmp_path, "kenlm", 95)
    with pytest.raises(ValueError, match="'kenlm' backend, not 'hf'"):
        load_thresholds(tmp_path, "hf", 99)


# A small fluent reference: two sentence templates per language with varying names and figures.
ZH_TEMPLATES = ["{c}公司今年营业收入增长{n}%，净利润保持稳定。", "{c}银行的资产质量良好，不良贷款率下降到{n}%。"]
EN_TEMPLATES = ["the bank said its net profit rose {n} percent this year.", "{c} shares closed higher after results."]
ZH_NAMES, EN_NAMES = ["华夏", "东方", "长城", "中信", "招商", "平安"], ["acme", "globex", "initech", "umbrella"]


def reference_documents(rng: random.Random, count: int) -> list[dict]:
    docs = []
    for i in range(count):
        lang, templates, names = ("zh", ZH_TEMPLATES, ZH_NAMES) if i % 3 else ("en", EN_TEMPLATES, EN_NAMES)
        lines = [rng.choice(templates).format(c=rng.choice(names), n=rng.randint(1, 99)) for _ in range(3)]
        docs.append({"text": "\n".join(lines), "lang": lang})
    return docs


def shuffled(text: str, seed: int = 0) -> str:
    chars = list(text.replace("\n", ""))
    random.Random(seed).shuffle(chars)
    return "".join(chars)


needs_kenlm = pytest.mark.skipif(
    find_kenlm_tool("lmplz") is None or importlib.util.find_spec("kenlm") is None,
    reason="KenLM's lmplz or the kenlm package is missing: bash scripts/build_kenlm.sh && pip install -e '.[kenlm]'",
)


@pytest.fixture(scope="module")
def kenlm_dir(tmp_path_factory):
    if find_kenlm_tool("lmplz") is None or importlib.util.find_spec("kenlm") is None:
        pytest.skip("KenLM is not installed")
    root = tmp_path_factory.mktemp("kenlm")
    reference = root / "reference.jsonl"
    reference.write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in reference_documents(random.Random(0), 120)),
        encoding="utf-8",
    )
    recipe = load_recipe("train_kenlm")
    config = recipe.TrainKenLMConfig(
        reference=[str(reference)], output_dir=str(root / "model"), order=3, percentiles=[50, 90, 100],
        heldout_fraction=0.25,
    )  # fmt: skip
    recipe.main(config)
    return root / "model"


@needs_kenlm
def test_kenlm_training_writes_models_and_heldout_percentiles(kenlm_dir):
    import kenlm

    payload = json.loads((kenlm_dir / "thresholds.json").read_text(encoding="utf-8"))
    assert payload["backend"] == "kenlm" and payload["order"] == 3 and set(payload["languages"]) == {"zh", "en"}
    references = reference_documents(random.Random(0), 120)
    for lang, stats in payload["languages"].items():
        heldout = [d["text"] for d in references if d["lang"] == lang and is_heldout(d["text"], 0.25)]
        assert stats["documents"] == len(heldout) > 0
        assert stats["training"]["documents"] == sum(d["lang"] == lang for d in references) - len(heldout)
        model_file = next(kenlm_dir.glob(f"{lang}.*"))
        model = kenlm.Model(str(model_file))
        # Reference perplexity computed independently from KenLM's own per-sentence scores.
        values = []
        for text in heldout:
            sentences = [" ".join(lm_tokens(line)) for line in text.splitlines()]
            log10 = sum(model.score(s, bos=True, eos=True) for s in sentences)
            values.append(10 ** (-log10 / sum(len(s.split()) + 1 for s in sentences)))
        assert stats["percentiles"]["100"] == pytest.approx(max(values))
        assert stats["percentiles"]["50"] == pytest.approx(statistics.median(values))


@needs_kenlm
def test_single_line_perplexity_matches_kenlm_builtin(kenlm_dir):
    import kenlm

    config = PerplexityFilterConfig(enabled=True, model_dir=str(kenlm_dir), percentile=100)
    scorer = PerplexityFilter(config).scorer
    text = "长城银行的资产质量良好，不良贷款率下降到3%。"
    model = kenlm.Model(str(next(kenlm_dir.glob("zh.*"))))
    assert scorer.perplexity(text, "zh") == pytest.approx(model.perplexity(" ".join(lm_tokens(text))))


@needs_kenlm
def test_filter_keeps_fluent_drops_shuffled_and_routes_by_language(kenlm_dir):
    # Fluent: held-out reference documents (never trained on; at percentile 100 each is within its threshold).
    heldout = [d for d in reference_documents(random.Random(0), 120) if is_heldout(d["text"], 0.25)]
    fluent_zh = next(d["text"] for d in heldout if d["lang"] == "zh")
    fluent_en = next(d["text"] for d in heldout if d["lang"] == "en")
    docs = [
        Document(text=fluent_zh, id="zh-fluent", metadata={"lang": "zh"}),
        Document(text=shuffled(fluent_zh), id="zh-shuffled", metadata={"lang": "zh"}),
        Document(text=fluent_en, id="en-fluent", metadata={"lang": "en"}),
        Document(text=" ".join(reversed(fluent_en.split())), id="en-reversed", metadata={"lang": "en"}),
        Document(text=fluent_en, id="en-labelled-zh", metadata={"lang": "zh"}),  # scored by the zh model
        Document(text=shuffled(fluent_zh), id="fr-garbage", metadata={"lang": "fr"}),  # no model: passes
    ]
    block = PerplexityFilter(PerplexityFilterConfig(enabled=True, model_dir=str(kenlm_dir), percentile=100))
    kept = [doc.id for doc in block.run(iter(docs))]
    assert kept == ["zh-fluent", "en-fluent", "fr-garbage"]
    assert docs[1].metadata["perplexity"] > block.thresholds["zh"] >= docs[0].metadata["perplexity"]
    stats = block.stats.to_dict()["stats"]
    assert stats["dropped_perplexity_zh"] == 2 and stats["dropped_perplexity_en"] == 1
    assert stats["unscored_lang_fr"] == 1


@needs_kenlm
def test_threshold_is_inclusive_and_read_from_the_chosen_percentile(kenlm_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(kenlm_dir, model_dir)
    scorer = PerplexityFilter(PerplexityFilterConfig(model_dir=str(model_dir), percentile=100)).scorer
    low, high = "中信公司今年营业收入增长5%，净利润保持稳定。", "净利润中信增长公司稳定营业。"
    low_ppl, high_ppl = scorer.perplexity(low, "zh"), scorer.perplexity(high, "zh")
    assert low_ppl < high_ppl
    write_thresholds(model_dir, "kenlm", {"zh": {"percentiles": {"80": low_ppl, "95": high_ppl}}})
    for percentile, expected in ((80, ["low"]), (95, ["low", "high"])):
        block = PerplexityFilter(PerplexityFilterConfig(model_dir=str(model_dir), percentile=percentile))
        docs = [Document(text=t, id=i, metadata={"lang": "zh"}) for i, t in (("low", low), ("high", high))]
        assert [d.id for d in block.run(iter(docs))] == expected


@needs_kenlm
def test_missing_model_file_error_names_the_paths(kenlm_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(kenlm_dir, model_dir)
    for model_file in model_dir.glob("en.*"):
        model_file.unlink()
    with pytest.raises(FileNotFoundError, match=f"neither {model_dir / 'en.bin'} nor {model_dir / 'en.arpa'}"):
        PerplexityFilter(PerplexityFilterConfig(model_dir=str(model_dir), percentile=100))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="backend"):
        PerplexityFilterConfig(backend="ngram")
    with pytest.raises(ValueError, match="percentile"):
        PerplexityFilterConfig(percentile=0)
    with pytest.raises(ValueError, match="hf_model"):
        PerplexityFilterConfig(enabled=True, backend="hf")


@pytest.fixture(scope="module")
def tiny_trained_lm(tmp_path_factory):
    """A tiny XuanYuan causal LM fitted for a few dozen steps to a handful of fluent sentences."""
    from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
    from xuanyuan.tokenization import load_tokenizer

    torch.manual_seed(0)
    tokenizer = load_tokenizer()
    texts = [
        "招商银行的资产质量良好，不良贷款率下降到百分之一。",
        "东方公司今年营业收入增长较快，净利润保持稳定。",
        "the bank said its net profit rose this year.",
    ]
    config = XuanYuanConfig.from_preset(
        "tiny", vocab_size=-(-len(tokenizer) // 128) * 128, hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = XuanYuanForCausalLM(config)
    batch = tokenizer([t + tokenizer.eos_token for t in texts], return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    path = tmp_path_factory.mktemp("tiny_lm")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, texts


def test_hf_backend_keeps_fluent_text_and_drops_shuffled_characters(tiny_trained_lm, tmp_path):
    path, texts = tiny_trained_lm
    scorer = HFScorer(str(path))
    fluent = [scorer.perplexity(t, "zh") for t in texts]
    write_thresholds(tmp_path, "hf", reference_statistics({"zh": fluent}, [100]))
    config = PerplexityFilterConfig(
        enabled=True, backend="hf", hf_model=str(path), model_dir=str(tmp_path), percentile=100
    )
    block = PerplexityFilter(config)
    docs = [Document(text=texts[0], id="fluent", metadata={"lang": "zh"}),
            Document(text=shuffled(texts[0]), id="shuffled", metadata={"lang": "zh"})]  # fmt: skip
    assert [d.id for d in block.run(iter(docs))] == ["fluent"]
    assert docs[1].metadata["perplexity"] > 3 * max(fluent)
    assert math.isclose(docs[0].metadata["perplexity"], fluent[0], rel_tol=1e-3)


def test_hf_thresholds_recipe_writes_the_percentiles_that_make_the_filter_drop_noise(tiny_trained_lm, tmp_path):
    """recipes/perplexity_thresholds.py on a clean reference (the fluent sentences and documents made of them);
    the hf filter with its thresholds keeps new documents of fluent sentences and drops the embedded corpus's
    planted noise kinds."""
    path, texts = tiny_trained_lm
    (zh_a, zh_b), en = texts[:2], texts[2]
    zh_docs = (zh_a, zh_b, f"{zh_a}\n{zh_b}", f"{zh_b}\n{zh_a}", f"{zh_a}\n{zh_b}\n{zh_b}", f"{zh_b}\n{zh_a}\n{zh_a}")
    reference = [{"text": t, "lang": "zh"} for t in zh_docs]
    reference += [{"text": t, "lang": "en"} for t in (en, f"{en}\n{en}", f"{en}\n{en}\n{en}\n{en}")]
    (tmp_path / "reference.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reference), encoding="utf-8"
    )
    recipe = load_recipe("perplexity_thresholds")
    config = recipe.PerplexityThresholdsConfig(
        hf_model=str(path), reference=[str(tmp_path / "reference.jsonl")], output_dir=str(tmp_path / "hf"),
        percentiles=[50, 100], max_length=256,
    )  # fmt: skip
    recipe.main(config)

    payload = json.loads((tmp_path / "hf" / "thresholds.json").read_text(encoding="utf-8"))
    assert payload["backend"] == "hf" and payload["max_length"] == 256 and payload["hf_model"] == str(path)
    from xuanyuan import XuanYuanForCausalLM
    from xuanyuan.tokenization import load_tokenizer

    model, tokenizer = XuanYuanForCausalLM.from_pretrained(path).eval(), load_tokenizer(path)
    for lang in ("zh", "en"):
        perplexities = []
        for record in (r for r in reference if r["lang"] == lang):  # exp(mean NLL of <s> text </s>), from the loss
            ids = torch.tensor([tokenizer(record["text"])["input_ids"] + [tokenizer.eos_token_id]])
            with torch.no_grad():
                perplexities.append(math.exp(model(input_ids=ids, labels=ids).loss.item()))
        stats = payload["languages"][lang]
        assert stats["documents"] == len(perplexities)
        assert stats["percentiles"]["100"] == pytest.approx(max(perplexities), rel=1e-4)
        assert stats["percentiles"]["50"] == pytest.approx(statistics.median(perplexities), rel=1e-4)

    rng = random.Random(0)
    han = [chr(c) for c in range(0x4E00, 0x9FA5)]
    base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    docs = {
        "fluent_zh": (f"{zh_a}\n{zh_b}\n{zh_a}", "zh"),  # documents the reference does not have
        "fluent_en": (f"{en}\n{en}\n{en}", "en"),
        "random_chars": ("".join(rng.choice(han + list("#$%&@^")) for _ in range(40)), "zh"),
        "mojibake": (zh_a.encode("utf-8").decode("gbk", errors="replace"), "zh"),
        "shuffled": (shuffled(zh_b), "zh"),
        "base64": ("data:image/png;base64," + "".join(rng.choice(base64) for _ in range(60)), "en"),
    }
    block = PerplexityFilter(
        PerplexityFilterConfig(
            enabled=True, backend="hf", hf_model=str(path), model_dir=str(tmp_path / "hf"), percentile=100,
            max_length=256,
        )
    )  # fmt: skip
    documents = [Document(text=text, id=name, metadata={"lang": lang}) for name, (text, lang) in docs.items()]
    kept = [d.id for d in block.run(iter(documents))]
    assert kept == ["fluent_zh", "fluent_en"], {d.id: d.metadata.get("perplexity") for d in documents}
    with pytest.raises(ValueError, match="max_length 256, the filter uses 128"):
        PerplexityFilter(
            PerplexityFilterConfig(
                backend="hf", hf_model=str(path), model_dir=str(tmp_path / "hf"), percentile=100, max_length=128
            )
        )
