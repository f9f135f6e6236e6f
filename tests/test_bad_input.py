"""Every reader of user files gives the same answer to the same bad bytes: a UTF-8 BOM and CRLF line ends load,
bytes that are not UTF-8 (or a binary file) are a `RecordError` naming file, line and byte offset."""

from __future__ import annotations

import codecs
import gzip
import json

import pytest
from ppo_toy import toy_tokenizer
from script_loading import load_script

from xuanyuan.data.corpus import load_corpus
from xuanyuan.data.preferences import load_preference_pairs
from xuanyuan.data.processing.reader import RecordReader
from xuanyuan.data.records import RecordError
from xuanyuan.data.sft_data import load_sft_dataset
from xuanyuan.evaluation.generation import load_generation_examples
from xuanyuan.quantization.calibration import load_calibration
from xuanyuan.training.ppo.data import load_prompts

TURNS = [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]

# reader name -> (a valid record, how the reader loads a file into a list with one item per record)
READERS = {
    "sft": ({"messages": TURNS}, lambda path: list(load_sft_dataset([path])[0])),
    "preferences": (
        {"prompt": "问", "chosen": "好", "rejected": "差"},
        lambda path: load_preference_pairs(path).pairs,
    ),
    "pretraining corpus": ({"text": "营收", "domain": "news"}, lambda path: load_corpus([path]).texts),
    "ppo prompts": ({"prompt": "t1 t2"}, lambda path: load_prompts([path])),
    "generation eval": ({"prompt": "问", "reference": "答"}, lambda path: load_generation_examples([path])),
    "gptq calibration": ({"text": "t1 t2 t3"}, lambda path: load_calibration(path, toy_tokenizer(), min_length=1)),
    "data pipeline": ({"text": "营收增长"}, lambda path: list(RecordReader([path]).run())),
}


def perplexity_eval(path: str) -> list:
    """eval/perplexity.py reads its documents before it loads the model (here: one that does not exist)."""
    recipe = load_script("eval/perplexity.py")
    return recipe.main(recipe.PerplexityConfig(model="no/such-model", data_files=[path], output_dir="unused"))


def encoded(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


@pytest.mark.parametrize("name", sorted(READERS))
def test_bom_and_crlf_load_like_plain_utf8(tmp_path, name):
    record, load = READERS[name]
    plain, windows = tmp_path / "plain.jsonl", tmp_path / "windows.jsonl"
    plain.write_bytes(encoded(record) + b"\n" + encoded(record) + b"\n")
    windows.write_bytes(codecs.BOM_UTF8 + encoded(record) + b"\r\n\r\n" + encoded(record) + b"\r\n")
    assert len(load(str(windows))) == len(load(str(plain))) == 2


@pytest.mark.parametrize("name", [*sorted(READERS), "perplexity eval"])
def test_non_utf8_bytes_name_file_line_and_offset(tmp_path, name):
    record, load = READERS.get(name, ({"text": "营收"}, perplexity_eval))
    path = tmp_path / "data.jsonl"
    first = encoded(record) + b"\n"
    path.write_bytes(first + b'{"x": "\xb0"}\n')  # 0xb0 alone: a GBK lead byte, never valid UTF-8
    offset = len(first) + len(b'{"x": "')
    message = rf"data\.jsonl, line 2: not valid UTF-8 \(byte 0xb0 at offset {offset}\); convert the file to UTF-8"
    with pytest.raises(RecordError, match=message):
        load(str(path))

    path.write_bytes(gzip.compress(first * 3))  # a binary file under a .jsonl name
    with pytest.raises(RecordError, match=r"data\.jsonl, line 1: not valid UTF-8 \(byte 0x8b at offset 1\)"):
        load(str(path))
