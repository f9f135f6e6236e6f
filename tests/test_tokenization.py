"""Tokenizer: shipped byte-level BPE, chat template, vocabulary expansion."""

import json

import pytest
import torch

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.tokenization import (
    XUANYUAN_SYSTEM_PROMPT,
    expand_vocabulary,
    load_tokenizer,
    resize_embeddings_with_mean,
    train_bpe_tokenizer,
)

MIXED_TEXTS = [
    "华泰证券（601688.SH）2023年营业收入为365.8亿元，同比增长4.3%；ROE 6.9%。",
    "Ping An Insurance reported a net profit of RMB 85.7 billion, EPS ¥4.70.",
    "市盈率（P/E）= 股价 ÷ 每股收益。久期衡量债券价格对利率变化的敏感度！",
    "臺灣證券交易所的報導：「資產負債率」上升……\n\t全角ＡＢＣ１２３　与 emoji 📈💹",
    "  leading spaces, trailing spaces  \n\n",
]

CONVERSATION = [
    {"role": "system", "content": "你是金融助手。"},
    {"role": "user", "content": "什么是市盈率？"},
    {"role": "assistant", "content": "市盈率是股价除以每股收益。"},
    {"role": "user", "content": "Thanks!"},
    {"role": "assistant", "content": "不客气。"},
]


@pytest.fixture(scope="module")
def shipped():
    return load_tokenizer()


def test_shipped_special_tokens(shipped):
    assert (shipped.pad_token_id, shipped.bos_token_id, shipped.eos_token_id) == (0, 1, 2)
    assert shipped.pad_token != shipped.eos_token
    assert len(shipped) <= XuanYuanConfig.from_preset("tiny").vocab_size
    assert shipped.unk_token is None


@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_roundtrip_is_lossless(shipped, text):
    ids = shipped(text, add_special_tokens=False)["input_ids"]
    assert all(0 <= i < len(shipped) for i in ids)
    assert shipped.decode(ids) == text


def test_bos_prepended_once_and_no_eos(shipped):
    ids = shipped("市盈率")["input_ids"]
    assert ids[0] == shipped.bos_token_id and shipped.bos_token_id not in ids[1:]
    assert shipped.eos_token_id not in ids


def test_digits_are_split_individually(shipped):
    pieces = shipped.convert_ids_to_tokens(shipped("2023", add_special_tokens=False)["input_ids"])
    assert pieces == ["2", "0", "2", "3"]


def test_chat_template_renders_xuanyuan_format(shipped):
    rendered = shipped.apply_chat_template(CONVERSATION, tokenize=False)
    expected = (
        "<s>你是金融助手。\n Human: 什么是市盈率？ Assistant: 市盈率是股价除以每股收益。</s>"
        "Human: Thanks! Assistant: 不客气。</s>"
    )
    assert rendered == expected
    prompt = shipped.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert prompt == "<s>你是金融助手。\n Human: 什么是市盈率？ Assistant:"
    assert rendered.startswith(prompt)
    no_system = shipped.apply_chat_template(CONVERSATION[1:3], tokenize=False)
    assert no_system.startswith("<s>Human: 什么是市盈率？ Assistant:")
    assert "Human开头" in XUANYUAN_SYSTEM_PROMPT


def test_assistant_mask_covers_exactly_the_replies(shipped):
    out = shipped.apply_chat_template(CONVERSATION, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    trained = [i for i, m in zip(ids, mask, strict=True) if m]
    assert shipped.decode(trained) == " 市盈率是股价除以每股收益。</s> 不客气。</s>"
    assert sum(1 for i, m in zip(ids, mask, strict=True) if m and i == shipped.eos_token_id) == 2
    # The untrained part is everything else, in order: system, both user turns and the role headers.
    untrained = shipped.decode([i for i, m in zip(ids, mask, strict=True) if not m])
    assert untrained == "<s>你是金融助手。\n Human: 什么是市盈率？ Assistant:Human: Thanks! Assistant:"


def test_trained_tokenizer_has_no_unk_on_unseen_scripts():
    tokenizer = train_bpe_tokenizer(MIXED_TEXTS * 20, vocab_size=400)
    unseen = "Здравствуйте 안녕하세요 ∑∫ 𝔘"
    assert tokenizer.decode(tokenizer(unseen, add_special_tokens=False)["input_ids"]) == unseen
    assert tokenizer.convert_tokens_to_ids(["<pad>", "<s>", "</s>"]) == [0, 1, 2]


@pytest.fixture(scope="module")
def base_tokenizer():
    return train_bpe_tokenizer(["The bank reported revenue and profit growth."] * 50 + MIXED_TEXTS * 5, vocab_size=350)


def test_vocabulary_expansion_keeps_old_ids_and_shortens_domain_text(base_tokenizer):
    domain = ["可转换债券的转股溢价率与纯债价值", "可转换债券票面利率较低", "转股溢价率衡量可转换债券估值"] * 30
    expanded = expand_vocabulary(base_tokenizer, domain, num_new_tokens=40)
    old_vocab = base_tokenizer.get_vocab()
    new_vocab = expanded.get_vocab()
    assert 0 < len(new_vocab) - len(old_vocab) <= 40
    assert all(new_vocab[token] == index for token, index in old_vocab.items())
    assert sorted(new_vocab.values()) == list(range(len(new_vocab)))
    sample = domain[0]
    assert len(expanded(sample)["input_ids"]) < len(base_tokenizer(sample)["input_ids"])
    assert expanded.decode(expanded(sample, add_special_tokens=False)["input_ids"]) == sample
    assert expanded.chat_template == base_tokenizer.chat_template


def test_embedding_resize_keeps_old_logits_and_uses_mean_rows(base_tokenizer):
    torch.manual_seed(0)
    config = XuanYuanConfig(
        vocab_size=len(base_tokenizer), hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4,
    )  # fmt: skip
    model = XuanYuanForCausalLM(config).eval()
    old_ids = torch.tensor([base_tokenizer("The bank reported 华泰证券 revenue.")["input_ids"]])
    before = model(old_ids).logits
    old_input = model.get_input_embeddings().weight.detach().clone()
    old_output = model.get_output_embeddings().weight.detach().clone()

    new_size = len(base_tokenizer) + 37
    resize_embeddings_with_mean(model, new_size)
    after = model(old_ids).logits
    assert after.shape[-1] == new_size == model.config.vocab_size
    assert torch.equal(after[..., : len(base_tokenizer)], before)
    for weight, old in (
        (model.get_input_embeddings().weight, old_input),
        (model.get_output_embeddings().weight, old_output),
    ):
        assert torch.equal(weight[: len(old)], old)
        torch.testing.assert_close(weight[len(old) :], old.mean(0, keepdim=True).expand(37, -1))
    with pytest.raises(ValueError, match="smaller"):
        resize_embeddings_with_mean(model, 10)


@pytest.mark.slow
def test_shipped_tokenizer_is_reproduced_from_the_embedded_corpus(tmp_path):
    from xuanyuan.data.embedded import EmbeddedDataConfig, generate_embedded_data
    from xuanyuan.tokenization import SHIPPED_TOKENIZER_DIR, iter_jsonl_texts

    generate_embedded_data(EmbeddedDataConfig(output_dir=str(tmp_path)))
    corpus = [tmp_path / "pretrain" / "raw.jsonl", tmp_path / "sft" / "train.jsonl"]
    retrained = train_bpe_tokenizer(iter_jsonl_texts(corpus), vocab_size=4096)
    shipped = load_tokenizer()
    assert retrained.get_vocab() == shipped.get_vocab()
    assert retrained.backend_tokenizer.to_str() == shipped.backend_tokenizer.to_str()
    assert (SHIPPED_TOKENIZER_DIR / "tokenizer.json").exists()


def test_corpus_texts_come_from_every_text_field_and_bad_lines_are_named(tmp_path):
    from xuanyuan.data.records import RecordError
    from xuanyuan.tokenization import iter_jsonl_texts

    path = tmp_path / "mixed.jsonl"
    messages = [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]
    records = [
        {"id": "d1", "domain": "news", "lang": "zh", "text": "正文"},
        {"id": "s1", "category": "concept", "messages": messages},
        {"id": "p1", "label": "A3", "prompt": "提示", "response_a": "甲", "response_b": "乙"},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) + "{oops\n", encoding="utf-8")
    texts = iter_jsonl_texts([path])
    assert [next(texts) for _ in range(6)] == ["正文", "问", "答", "提示", "甲", "乙"]
    with pytest.raises(RecordError, match=r"mixed\.jsonl, line 4: invalid JSON"):
        next(texts)
