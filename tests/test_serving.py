"""`python -m xuanyuan.serve` (transformers serve) for real: one server process on 127.0.0.1 serving a tiny XuanYuan
chat checkpoint, called with the `openai` client. Greedy replies equal plain `generate` on the same chat template,
with the checkpoint's repetition penalty and without it (`frequency_penalty` 0); streaming gives the same text; the
synthesis steps' HTTP generator, eval/generation.py and eval/compare.py's reply judge give what their local
counterparts give. Also: why the wrapper exists (the bare server cannot load a XuanYuan checkpoint).
Skipped without the serve extra (fastapi, uvicorn)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from script_loading import load_script

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.chat_format import XUANYUAN_SYSTEM_PROMPT, with_system_prompt
from xuanyuan.data.synthesis.generators import LocalGenerator, build_generator
from xuanyuan.evaluation.generation import Sampling
from xuanyuan.evaluation.judge import ReplyJudge
from xuanyuan.hub import chat_generation_config
from xuanyuan.tokenization import load_tokenizer

MISSING = "the serve extra is not installed: pip install 'xuanyuan-recipes[serve]'"
pytest.importorskip("fastapi", reason=MISSING)
pytest.importorskip("uvicorn", reason=MISSING)
openai = pytest.importorskip("openai")

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [
    with_system_prompt([{"role": "user", "content": "市盈率怎么算？"}], XUANYUAN_SYSTEM_PROMPT),
    [{"role": "user", "content": "你好"}],
    [{"role": "user", "content": "久期是什么？"}, {"role": "assistant", "content": "利率敏感度。"},
     {"role": "user", "content": "怎么算？"}],
]  # fmt: skip
MAX_TOKENS = 8


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    """A tiny random XuanYuan chat checkpoint as the recipes save one: tokenizer with the chat template and the
    published chat sampling settings (repetition_penalty 1.1) in generation_config.json."""
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    config = XuanYuanConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = XuanYuanForCausalLM(config).eval()
    model.generation_config = chat_generation_config(tokenizer)
    folder = tmp_path_factory.mktemp("serve") / "chat"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder), model, tokenizer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(chat_model):
    """The server pinned to the checkpoint, up once /health answers; always terminated (killed if it lingers)."""
    port, log = free_port(), tempfile.TemporaryFile()
    command = [sys.executable, "-m", "xuanyuan.serve", chat_model[0], "--host", "127.0.0.1", "--port", str(port),
               "--device", "cpu"]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the server did not start (exit {process.poll()}):\n{log.read().decode()[-3000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server, api_key="EMPTY", max_retries=0, timeout=60)


def generated(model, tokenizer, messages: list[dict], **options) -> tuple[list[int], list[int]]:
    """(prompt ids, greedy reply ids up to and including EOS): one unpadded conversation through plain `generate`,
    with the model's generation config except where `options` say otherwise."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    with torch.no_grad():
        output = model.generate(torch.tensor([ids]), max_new_tokens=MAX_TOKENS, do_sample=False, temperature=None,
                                top_p=None, top_k=None, **options)[0, len(ids) :].tolist()  # fmt: skip
    eos = tokenizer.eos_token_id
    return ids, output[: output.index(eos) + 1] if eos in output else output


def test_the_bare_server_cannot_load_a_xuanyuan_checkpoint_and_the_wrapper_fixes_it(chat_model):
    """transformers serve's model manager takes the class by name from the transformers module."""
    import transformers
    from transformers.cli.serving import model_manager

    from xuanyuan.training.trl_adapter import expose_to_serve

    manager = model_manager.ModelManager(device="cpu", dtype="float32")
    name = manager.process_model_name(chat_model[0])
    namespace = model_manager.transformers
    assert not hasattr(namespace, "XuanYuanForCausalLM")
    with pytest.raises(AttributeError, match="has no attribute XuanYuanForCausalLM"):
        manager.load_model_and_processor(name)
    try:
        expose_to_serve(XuanYuanForCausalLM)
        model, processor = manager.load_model_and_processor(name)
        assert type(model) is XuanYuanForCausalLM and isinstance(processor, transformers.PreTrainedTokenizerBase)
        assert processor.chat_template == chat_model[2].chat_template
    finally:
        manager.shutdown()
        delattr(namespace, "XuanYuanForCausalLM")


@pytest.fixture(scope="module")
def prompts(chat_model):
    """PROMPTS, and a conversation whose history holds the model's own greedy reply to its question, asked again:
    there the repetition penalty changes the reply (on this model it changes none of the others)."""
    _, model, tokenizer = chat_model
    question = PROMPTS[1]
    reply = generated(model, tokenizer, question, repetition_penalty=1.0)[1]
    answered = {"role": "assistant", "content": tokenizer.decode(reply, skip_special_tokens=True).strip()}
    return [*PROMPTS, [*question, answered, *question]]


@pytest.mark.parametrize("plain", [True, False], ids=["frequency_penalty=0", "model's repetition_penalty"])
def test_greedy_replies_equal_generate(client, chat_model, prompts, plain):
    path, model, tokenizer = chat_model
    options = {"frequency_penalty": 0.0} if plain else {}
    references = [generated(model, tokenizer, p, **({"repetition_penalty": 1.0} if plain else {})) for p in prompts]
    for prompt, (ids, reply) in zip(prompts, references, strict=True):
        answer = client.chat.completions.create(model=path, messages=prompt, temperature=0, max_tokens=MAX_TOKENS,
                                                **options)  # fmt: skip
        assert answer.choices[0].message.content == tokenizer.decode(reply, skip_special_tokens=True)
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (len(ids), len(reply))
        assert answer.choices[0].finish_reason == ("length" if len(reply) == MAX_TOKENS else "stop")
    # the two settings really differ on this model, so each comparison above checks what the server applied
    other = [generated(model, tokenizer, p, **({} if plain else {"repetition_penalty": 1.0}))[1] for p in prompts]
    assert other != [reply for _, reply in references]


def test_streaming_gives_the_same_reply_in_pieces(client, chat_model):
    path, model, tokenizer = chat_model
    _, reply = generated(model, tokenizer, PROMPTS[2], repetition_penalty=1.0)
    options = {"temperature": 0, "max_tokens": MAX_TOKENS, "frequency_penalty": 0.0}
    chunks = list(client.chat.completions.create(model=path, messages=PROMPTS[2], stream=True, **options))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert chunks[0].choices[0].delta.role == "assistant" and len(pieces) > 1
    # a character whose bytes max_tokens cut is shown as U+FFFD in the whole reply; the stream waits for its rest
    assert "".join(pieces) == tokenizer.decode(reply, skip_special_tokens=True).removesuffix("\ufffd")
    assert chunks[-1].choices[0].finish_reason == ("length" if len(reply) == MAX_TOKENS else "stop")


def test_a_request_for_another_model_is_refused(client, chat_model):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="outputs/other", messages=PROMPTS[1], max_tokens=2)
    assert refused.value.body == {"detail": f"Server is pinned to '{chat_model[0]}'; requested 'outputs/other'."}


def test_synthesis_http_generator_equals_the_local_one(server, chat_model):
    path, model, tokenizer = chat_model
    sampling = Sampling(max_new_tokens=MAX_TOKENS)
    remote = build_generator(f"openai:{path}@{server}")
    local = LocalGenerator(model, tokenizer, "local", batch_size=1)  # unpadded, as the server generates
    assert remote.complete(PROMPTS, sampling) == local.complete(PROMPTS, sampling)
    assert remote.stats.generated_tokens == local.stats.generated_tokens > 0


def test_generation_and_compare_entry_points_against_the_server(tmp_path, server, chat_model):
    path, model, tokenizer = chat_model
    records = [{"id": str(i), "messages": [*p, {"role": "assistant", "content": f"参考{i}"}]} for i, p in
               enumerate(PROMPTS)]  # fmt: skip
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    generation = load_script("eval/generation.py")

    generation.main(generation.GenerationEvalConfig(
        model=f"openai:{path}@{server}", data_files=[str(data)], output_dir=str(tmp_path / "served"),
        max_new_tokens=MAX_TOKENS, rouge_tokenizer="char",
    ))  # fmt: skip
    served = [json.loads(line) for line in (tmp_path / "served/predictions.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in served] == ["0", "1", "2"] and [r["prompt"] for r in served] == PROMPTS
    plain = [generated(model, tokenizer, p, repetition_penalty=1.0)[1] for p in PROMPTS]
    assert [r["prediction"] for r in served] == [tokenizer.decode(r, skip_special_tokens=True).strip() for r in plain]

    baseline = tmp_path / "baseline.jsonl"
    baseline.write_text("".join(json.dumps(dict(r, prediction=f"基线{r['id']}"), ensure_ascii=False) + "\n"
                                for r in served), encoding="utf-8")  # fmt: skip
    compare = load_script("eval/compare.py")
    summary = compare.main(compare.CompareConfig(
        predictions=str(tmp_path / "served/predictions.jsonl"), baseline_predictions=str(baseline),
        judge="llm", judge_model=f"openai:{path}@{server}", output_dir=str(tmp_path / "cmp"),
    ))  # fmt: skip
    judge = ReplyJudge(LocalGenerator(model, tokenizer, "local", batch_size=1))
    prompts, answers = [r["prompt"] for r in served], [r["prediction"] for r in served]
    others = [f"基线{r['id']}" for r in served]
    expected = list(zip(judge(prompts, answers, others), judge(prompts, others, answers), strict=True))
    verdicts = [json.loads(line) for line in (tmp_path / "cmp/verdicts.jsonl").read_text("utf-8").splitlines()]
    assert [(v["forward"], v["backward"]) for v in verdicts] == expected
    assert summary["num_items"] == len(PROMPTS) and summary["unparsed_verdicts"] == judge.unparsed


@pytest.mark.parametrize(
    ("flags", "device", "argv", "expected"),
    [
        ({"avx2"}, "cpu", ["m"], "float32"),  # bf16 would run emulated: load float32
        ({"avx2", "avx512_bf16"}, "cpu", ["m"], None),  # the server's "auto": the checkpoint's own dtype
        ({"avx2"}, "cuda", ["m"], None),
        ({"avx2"}, "cuda", ["m", "--device", "cpu"], "float32"),  # the CPU of a GPU machine
        ({"avx2"}, "cpu", ["m", "--dtype=bfloat16"], None),  # as given
    ],
)
def test_the_default_dtype_follows_the_hardware(monkeypatch, flags, device, argv, expected):
    from xuanyuan import serve
    from xuanyuan.utils import precision

    def machine(use_cpu: bool = False):
        return precision.MachineInfo("cpu" if use_cpu else device, "test cpu", frozenset(flags))

    monkeypatch.setattr(precision, "detect_machine", machine)
    assert serve.default_dtype(argv) == expected
