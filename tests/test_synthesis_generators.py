"""The two generator backends for real: the local one against plain one-prompt-at-a-time `generate`, and the
OpenAI one over HTTP against the stand-in server process (tests/openai_stand_in.py) answering with the same
tiny model, failing on demand, or sending garbage; spec parsing; every exception pickles."""

from __future__ import annotations

import logging
import pickle
from types import SimpleNamespace

import pytest
import torch
from openai_stand_in import StandIn

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.data.synthesis import generators
from xuanyuan.data.synthesis.generators import (
    GenerationRequestError,
    GeneratorSpec,
    LocalGenerator,
    OpenAIGenerator,
    RequestBudgetExceeded,
    build_generator,
)
from xuanyuan.evaluation.generation import Sampling
from xuanyuan.tokenization import load_tokenizer

PROMPTS = [
    [{"role": "user", "content": "市盈率怎么算？"}],
    [{"role": "user", "content": "你好"}],
    [{"role": "system", "content": "你是金融助手。"}, {"role": "user", "content": "平安银行的代码？"}],
    [{"role": "user", "content": "久期是什么？"}, {"role": "assistant", "content": "利率敏感度。"},
     {"role": "user", "content": "怎么算？"}],
    [{"role": "user", "content": "请解释一下什么是可转换债券，以及它的主要风险。"}],
]  # fmt: skip
MAX_NEW_TOKENS = 8
SECRET = "sk-stand-in-0123456789abcdef"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def plain_replies(model, tokenizer, prompt: list[dict], num: int = 1, **options) -> list[list[int]]:
    """The reference: one unpadded conversation through plain `generate`, each reply cut after its first EOS."""
    ids = torch.tensor([tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                                      return_dict=False)])  # fmt: skip
    with torch.no_grad():
        output = model.generate(ids, max_new_tokens=MAX_NEW_TOKENS, num_return_sequences=num, top_k=None,
                                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                **options)[:, ids.shape[1] :].tolist()  # fmt: skip
    eos = tokenizer.eos_token_id
    return [row[: row.index(eos) + 1] if eos in row else row for row in output]


def greedy(model, tokenizer, prompt):
    return plain_replies(model, tokenizer, prompt, do_sample=False, temperature=None, top_p=None)[0]


@pytest.fixture(scope="module")
def model(tokenizer):
    """A tiny random model whose replies depend on the prompt (a wide initialisation) and whose greedy replies
    stop at EOS for some prompts: EOS's output row is made 1.05 times the row of a token the first reply
    generates, so EOS wins where that token would have (it is the third token of the first two replies)."""
    config = XuanYuanConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, initializer_range=0.3, tie_word_embeddings=False, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = XuanYuanForCausalLM(config).eval()
    stop = greedy(model, tokenizer, PROMPTS[0])[2]
    with torch.no_grad():
        model.lm_head.weight[tokenizer.eos_token_id] = 1.05 * model.lm_head.weight[stop]
    return model


@pytest.fixture(scope="module")
def reference(model, tokenizer) -> list[list[int]]:
    replies = [greedy(model, tokenizer, p) for p in PROMPTS]
    stopped = [tokenizer.eos_token_id in r for r in replies]
    assert any(stopped) and not all(stopped), "the fixture must give replies that stop early and replies that do not"
    assert len({tuple(r) for r in replies}) == len(PROMPTS), "the fixture must answer every prompt differently"
    return replies


@pytest.fixture(scope="module")
def model_dir(model, tokenizer, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def served(model_dir):
    with StandIn("--model_dir", str(model_dir)) as stand_in:
        yield stand_in


def texts(tokenizer, replies: list[list[int]]) -> list[list[str]]:
    return [[tokenizer.decode(r, skip_special_tokens=True).strip()] for r in replies]


def openai_spec(base_url: str, **fields) -> GeneratorSpec:
    return GeneratorSpec(model="tiny-chat", kind="openai", base_url=base_url, timeout=30, **fields)


def round_trips(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)


@pytest.fixture
def backoff(monkeypatch) -> list[float]:
    """The retry delays asked for, instead of sleeping them."""
    delays: list[float] = []
    monkeypatch.setattr(
        generators, "time", SimpleNamespace(sleep=delays.append, perf_counter=generators.time.perf_counter)
    )
    return delays


# --- local ---------------------------------------------------------------------------------------------------


def test_local_batched_greedy_replies_equal_one_prompt_at_a_time(model, tokenizer, reference):
    generator = LocalGenerator(model, tokenizer, "tiny", batch_size=2)  # batches of 2, 2 and 1, left-padded
    assert generator.complete(PROMPTS, Sampling(max_new_tokens=MAX_NEW_TOKENS)) == texts(tokenizer, reference)
    stats = generator.stats
    assert (stats.prompts, stats.replies, stats.requests, stats.retries) == (5, 5, 0, 0)
    assert stats.generated_tokens == sum(len(r) for r in reference)  # up to and including each EOS
    assert stats.generated_tokens < len(PROMPTS) * MAX_NEW_TOKENS


def test_local_seeded_samples_repeat_and_follow_plain_sampling(model, tokenizer):
    sampling = Sampling(max_new_tokens=MAX_NEW_TOKENS, temperature=1.5, num_samples=3)
    generator = LocalGenerator(model, tokenizer, "tiny", batch_size=1)
    samples = generator.complete(PROMPTS[:1], sampling, seed=7)
    torch.manual_seed(7)
    expected = plain_replies(model, tokenizer, PROMPTS[0], num=3, do_sample=True, temperature=1.5, top_p=1.0)
    assert samples == [[tokenizer.decode(r, skip_special_tokens=True).strip() for r in expected]]
    assert len(set(samples[0])) > 1

    batched = LocalGenerator(model, tokenizer, "tiny", batch_size=2)
    first = batched.complete(PROMPTS, sampling, seed=3)
    assert [len(replies) for replies in first] == [3] * len(PROMPTS)
    assert batched.complete(PROMPTS, sampling, seed=3) == first
    assert batched.complete(PROMPTS, sampling, seed=4) != first
    assert (batched.stats.prompts, batched.stats.replies) == (3 * len(PROMPTS), 9 * len(PROMPTS))


def test_greedy_decoding_with_several_samples_is_refused():
    with pytest.raises(ValueError, match="num_samples=2 needs a temperature above 0"):
        Sampling(num_samples=2)


def test_a_model_folder_builds_a_local_generator(model_dir, tokenizer, reference):
    generator = build_generator(str(model_dir))
    assert isinstance(generator, LocalGenerator) and generator.name == str(model_dir)
    assert generator.complete(PROMPTS, Sampling(max_new_tokens=MAX_NEW_TOKENS)) == texts(tokenizer, reference)


# --- OpenAI-compatible endpoint --------------------------------------------------------------------------------


def test_http_replies_equal_local_greedy_replies(served, model, tokenizer, reference):
    generator = build_generator(openai_spec(served.base_url, max_concurrency=3))
    assert isinstance(generator, OpenAIGenerator)
    local = LocalGenerator(model, tokenizer, "tiny", batch_size=3)
    sampling = Sampling(max_new_tokens=MAX_NEW_TOKENS)
    assert generator.complete(PROMPTS, sampling) == local.complete(PROMPTS, sampling) == texts(tokenizer, reference)
    stats = generator.stats
    assert (stats.prompts, stats.replies, stats.requests, stats.retries) == (5, 5, 5, 0)
    assert stats.generated_tokens == local.stats.generated_tokens == sum(len(r) for r in reference)
    bodies = sorted((r["body"] for r in served.requests()), key=lambda body: PROMPTS.index(body["messages"]))
    assert [b["messages"] for b in bodies] == PROMPTS
    assert {(b["model"], b["max_tokens"], b["temperature"], "seed" in b) for b in bodies} == {
        ("tiny-chat", 8, 0, False)
    }


def test_http_samples_carry_one_seed_each_and_repeat(served):
    generator = OpenAIGenerator(openai_spec(served.base_url))
    sampling = Sampling(max_new_tokens=MAX_NEW_TOKENS, temperature=1.5, num_samples=2)
    before = len(served.requests())
    first = generator.complete(PROMPTS[:2], sampling, seed=11)
    sent = [r["body"]["seed"] for r in served.requests()[before:]]
    assert len(set(sent)) == 4 and [len(replies) for replies in first] == [2, 2]
    assert generator.complete(PROMPTS[:2], sampling, seed=11) == first
    assert sorted(r["body"]["seed"] for r in served.requests()[before + 4 :]) == sorted(sent)


def test_server_errors_are_retried_and_counted(backoff):
    with StandIn("--fail_first", "2") as stand_in:
        generator = OpenAIGenerator(openai_spec(stand_in.base_url, max_retries=2, max_concurrency=1))
        replies = generator.complete(PROMPTS[:2], Sampling(max_new_tokens=4))
        statuses = [r["status"] for r in stand_in.requests()]
    assert replies == [["市盈率怎"], ["你好"]]  # the echo stand-in: the last message, 4 characters at most
    assert statuses == [500, 500, 200, 200]
    assert (generator.stats.requests, generator.stats.retries, generator.stats.replies) == (4, 2, 2)
    assert generator.stats.generated_tokens == 4 + 2
    assert backoff == [0.5, 1.0]


def test_failing_beyond_the_retries_names_endpoint_model_and_prompt(backoff):
    with StandIn("--fail_first", "10") as stand_in:
        generator = OpenAIGenerator(openai_spec(stand_in.base_url, max_retries=2))
        with pytest.raises(GenerationRequestError) as raised:
            generator.complete(PROMPTS[1:2], Sampling(max_new_tokens=4))
        assert len(stand_in.requests()) == 3
    message = str(raised.value)
    assert stand_in.base_url in message and "'tiny-chat'" in message and "你好" in message
    assert "3 attempt(s)" in message and "InternalServerError" in message
    assert (generator.stats.requests, generator.stats.retries) == (3, 2) and backoff == [0.5, 1.0]
    round_trips(raised.value)


@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_a_body_that_is_not_a_chat_completion_is_a_named_error(content_type, backoff):
    with StandIn("--garbage", content_type) as stand_in:
        generator = OpenAIGenerator(openai_spec(stand_in.base_url, max_retries=1))
        with pytest.raises(GenerationRequestError) as raised:
            generator.complete(PROMPTS[:1], Sampling(max_new_tokens=4))
        assert [r["status"] for r in stand_in.requests()] == [200, 200]
    message = str(raised.value)
    assert stand_in.base_url in message and "'tiny-chat'" in message and "市盈率怎么算" in message
    assert "2 attempt(s)" in message
    round_trips(raised.value)


def test_the_request_budget_stops_before_sending_more(backoff):
    with StandIn() as stand_in:
        generator = OpenAIGenerator(openai_spec(stand_in.base_url, max_requests=3))
        assert generator.complete(PROMPTS[:2], Sampling(max_new_tokens=4)) == [["市盈率怎"], ["你好"]]
        with pytest.raises(RequestBudgetExceeded, match="max_requests=3") as raised:
            generator.complete(PROMPTS[2:4], Sampling(max_new_tokens=4))
        assert len(stand_in.requests()) == generator.stats.requests == 2
    assert stand_in.base_url in str(raised.value)
    round_trips(raised.value)


def test_retries_count_against_the_request_budget(backoff):
    with StandIn("--fail_first", "1") as stand_in:
        generator = OpenAIGenerator(openai_spec(stand_in.base_url, max_requests=3, max_concurrency=1))
        with pytest.raises(RequestBudgetExceeded, match="max_requests=3") as raised:
            generator.complete(PROMPTS[:3], Sampling(max_new_tokens=4))  # 3 fit, but the first one is retried
        assert [r["status"] for r in stand_in.requests()] == [500, 200, 200]
    assert (generator.stats.requests, generator.stats.retries) == (3, 1)
    round_trips(raised.value)


def test_the_api_key_reaches_the_server_and_nothing_else(monkeypatch, caplog, capfd, backoff):
    monkeypatch.setenv("STAND_IN_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    with StandIn("--fail_first", "1") as stand_in:
        spec = GeneratorSpec.parse({"model": "tiny-chat", "kind": "openai", "base_url": stand_in.base_url,
                                    "api_key_env": "STAND_IN_API_KEY", "max_retries": 0})  # fmt: skip
        generator = build_generator(spec)
        with pytest.raises(GenerationRequestError) as raised:
            generator.complete(PROMPTS[:1], Sampling(max_new_tokens=4))
        assert generator.complete(PROMPTS[1:2], Sampling(max_new_tokens=4)) == [["你好"]]
        received = stand_in.requests()
    assert [r["authorization"] for r in received] == [f"Bearer {SECRET}"] * 2
    assert stand_in.base_url in caplog.text  # the client's request logs were captured
    printed = capfd.readouterr()
    for text in (repr(spec), str(raised.value), caplog.text, printed.out, printed.err):
        assert SECRET not in text
    given = openai_spec(stand_in.base_url, api_key=SECRET)
    assert SECRET not in repr(given) and SECRET not in str(given)


# --- specs -------------------------------------------------------------------------------------------------------


def test_spec_parsing():
    spec = GeneratorSpec.parse("openai:qwen2.5-7b-instruct@http://127.0.0.1:8000/v1")
    assert (spec.kind, spec.model, spec.base_url, spec.name) == (
        "openai", "qwen2.5-7b-instruct", "http://127.0.0.1:8000/v1", "qwen2.5-7b-instruct")  # fmt: skip
    local = GeneratorSpec.parse("outputs/tiny/sft")
    assert (local.kind, local.model, local.base_url, local.batch_size) == ("local", "outputs/tiny/sft", None, 8)
    from_yaml = GeneratorSpec.parse({"model": "m", "kind": "openai", "base_url": "http://h/v1", "name": "judge",
                                     "max_requests": 10, "max_concurrency": 2})  # fmt: skip
    assert (from_yaml.name, from_yaml.max_requests, from_yaml.max_concurrency) == ("judge", 10, 2)
    assert GeneratorSpec.parse(from_yaml) is from_yaml


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("openai:qwen", "expected openai:<model>@<base_url>"),
        ("openai:@http://h/v1", "expected openai:<model>@<base_url>"),
        ("openai:qwen@", "expected openai:<model>@<base_url>"),
        ({"model": "m", "kind": "openai"}, "needs a base_url"),
        ({"model": "m", "kind": "vllm"}, "kind must be 'local' or 'openai'"),
    ],
)
def test_bad_specs_are_refused(value, problem):
    with pytest.raises(ValueError, match=problem) as raised:
        GeneratorSpec.parse(value)
    round_trips(raised.value)
