"""Tokenizers: the XuanYuan chat template, tiny byte-level BPE training, vocabulary expansion.

The 6B's 39,438-entry tokenizer cannot be downloaded on offline machines, so the embedded default
trains its own byte-level BPE (every byte is in the alphabet: no text ever maps to UNK) with the
`tokenizers` library. Vocabulary expansion follows the Chinese-LLaMA practice: new Chinese merges
are learned on a domain corpus and appended *after* the existing ones, so old ids never move, and
the model's new embedding rows start at the mean of the old rows. `tokenizers` can train a BPE but
cannot merge two BPE models, which is why that step is written here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerFast

from .chat_format import XUANYUAN_CHAT_TEMPLATE, XUANYUAN_SYSTEM_PROMPT  # noqa: F401  (re-exported)
from .data.records import iter_records, resolve_sources

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIAL_TOKENS = [PAD, BOS, EOS]  # ids 0, 1, 2 as in XuanYuan-6B

SHIPPED_TOKENIZER_DIR = Path(__file__).parent / "resources" / "tokenizer"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE with XuanYuan's special tokens, BOS handling and chat template.

    Digits are split one by one (as LLaMA does) so figures like 128.5 tokenize uniformly.
    """
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return wrap_backend(backend)


def wrap_backend(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a `tokenizers.Tokenizer` as a transformers tokenizer with BOS prepended on encode."""
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        padding_side="right",
        chat_template=XUANYUAN_CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def load_tokenizer(name_or_path: str | Path | None = None, **kwargs) -> PreTrainedTokenizerFast:
    """Load a tokenizer (local folder or Hub id); by default the shipped embedded-default one."""
    return AutoTokenizer.from_pretrained(str(name_or_path or SHIPPED_TOKENIZER_DIR), **kwargs)


def iter_jsonl_texts(paths: Iterable[str | Path]) -> Iterator[str]:
    """Yield the text of every record: `text`, `prompt`/`completion`/`chosen`/`rejected`/…, `messages`."""
    for path in resolve_sources(paths):
        for record in iter_records(path):
            yield from _record_texts(record.data)


def _record_texts(record: dict) -> Iterator[str]:
    for key, value in sorted(record.items()):
        if key in {"id", "lang", "domain", "category", "label", "source"}:
            continue
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    yield item
                elif isinstance(item, dict) and isinstance(item.get("content"), str):
                    yield item["content"]


def expand_vocabulary(
    tokenizer: PreTrainedTokenizerFast, texts: Iterable[str], num_new_tokens: int, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Return a copy of a byte-level BPE tokenizer with up to `num_new_tokens` merges learned on `texts`.

    A BPE is trained on `texts` with the same pre-tokenizer; its merges whose result the old vocabulary
    lacks are appended after the old merges (lower priority), each new token getting the next free id.
    Old ids and old merges are untouched. Returns the expanded tokenizer (may add fewer tokens if the
    corpus yields fewer).
    """
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    if state["model"]["type"] != "BPE":
        raise ValueError(f"Vocabulary expansion needs a BPE tokenizer, got {state['model']['type']}.")
    vocab: dict[str, int] = state["model"]["vocab"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in state["model"]["merges"]]

    domain = Tokenizer(models.BPE())
    domain.pre_tokenizer = tokenizer.backend_tokenizer.pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=256 + len(vocab) + num_new_tokens,
        min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    domain.train_from_iterator(texts, trainer=trainer)
    domain_merges = json.loads(domain.to_str())["model"]["merges"]

    added = 0
    for merge in domain_merges:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        token = left + right
        if token in vocab or left not in vocab or right not in vocab:
            continue
        vocab[token] = len(vocab)
        merges.append((left, right))
        added += 1
        if added == num_new_tokens:
            break
    state["model"]["merges"] = [list(m) for m in merges]
    expanded = Tokenizer.from_str(json.dumps(state))
    return PreTrainedTokenizerFast(
        tokenizer_object=expanded,
        bos_token=tokenizer.bos_token,
        eos_token=tokenizer.eos_token,
        pad_token=tokenizer.pad_token,
        padding_side=tokenizer.padding_side,
        chat_template=tokenizer.chat_template,
        clean_up_tokenization_spaces=False,
    )


@torch.no_grad()
def resize_embeddings_with_mean(model: PreTrainedModel, new_vocab_size: int) -> None:
    """Grow input (and untied output) embeddings to `new_vocab_size`; new rows = mean of old rows."""
    old_vocab_size = model.get_input_embeddings().weight.shape[0]
    if new_vocab_size < old_vocab_size:
        raise ValueError(f"new_vocab_size {new_vocab_size} is smaller than the current {old_vocab_size}.")
    model.resize_token_embeddings(new_vocab_size, mean_resizing=False)
    matrices = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not matrices[0]:
        matrices.append(output.weight)
    for weight in matrices:
        weight[old_vocab_size:] = weight[:old_vocab_size].mean(dim=0, keepdim=True)
