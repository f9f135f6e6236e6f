"""Generators behind one interface: a local Hugging Face causal LM, or an OpenAI-compatible HTTP endpoint.

`Generator.complete(prompts, sampling, seed)` returns `sampling.num_samples` replies per conversation and
adds to its `GenerationStats` (prompts, replies, generated tokens, seconds, and for HTTP the requests and
retries). Build one from a `GeneratorSpec` (YAML / command line) with `build_generator`.

- `LocalGenerator`: `xuanyuan.evaluation.generation.complete_chats` (chat template, batched longest first,
  left padding, KV cache); a `seed` makes sampling repeat exactly for the same prompts and batch size.
- `OpenAIGenerator`: the `openai` client against any `/v1/chat/completions` server (vLLM, `transformers
  serve`, a hosted API). One request per reply, `max_concurrency` in flight; connection errors, timeouts,
  429 and 5xx answers and unparseable bodies are retried `max_retries` times with exponential backoff, then
  raise `GenerationRequestError` naming the endpoint, model and prompt; `max_requests` caps the requests of a
  run (`RequestBudgetExceeded`; a resumed run continues where the budget stopped it). The API key comes from
  `api_key` or the environment variable `api_key_env` and is never logged or written. Every request sends
  `frequency_penalty` 0, as the local backend applies no repetition penalty: `transformers serve` otherwise keeps
  the model's `generation_config.json` value (1.1 for the chat models) and reads frequency_penalty f as
  repetition_penalty 1 + f; the OpenAI API reads 0 as no penalty. vLLM keeps the model's value unless it serves
  with `--generation-config vllm` (it reads a `repetition_penalty` field, which `transformers serve` refuses), so
  a `repetition_penalty` other than 1 has no portable field and is refused.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Protocol

from ...evaluation.generation import Sampling

LOCAL, OPENAI = "local", "openai"


class GenerationRequestError(RuntimeError):
    """An HTTP generation request that failed after its retries (picklable: one message argument)."""


class RequestBudgetExceeded(RuntimeError):
    """The run reached `max_requests`; finished items are kept, so rerun with a larger budget to continue."""


@dataclass
class GenerationStats:
    prompts: int = 0
    replies: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0

    def add(self, prompts: int, texts: list[list[str]], tokens: int, started: float) -> None:
        self.prompts += prompts
        self.replies += sum(len(t) for t in texts)
        self.generated_tokens += tokens
        self.seconds += time.perf_counter() - started

    def to_dict(self) -> dict:
        tokens_per_second = self.generated_tokens / self.seconds if self.seconds else 0.0
        return {**asdict(self), "tokens_per_second": tokens_per_second}


@dataclass
class GeneratorSpec:
    """Where replies come from. `kind: local` loads `model` (a folder or Hub id) with transformers;
    `kind: openai` sends `model` as the model name to `base_url`."""

    model: str
    kind: str = LOCAL
    name: str | None = None  # recorded in every record it helps make; default: the model
    dtype: str = "float32"
    device: str | None = None  # local: default cuda when available, else cpu
    batch_size: int = 8
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 4
    max_requests: int | None = None
    max_retries: int = 3
    timeout: float = 120.0

    def __post_init__(self):
        if self.kind not in (LOCAL, OPENAI):
            raise ValueError(f"generator kind must be {LOCAL!r} or {OPENAI!r}, got {self.kind!r}")
        if self.kind == OPENAI and not self.base_url:
            raise ValueError(f"generator {self.model!r}: kind 'openai' needs a base_url (e.g. http://host:8000/v1)")
        self.name = self.name or self.model

    @classmethod
    def parse(cls, value: str | dict | GeneratorSpec) -> GeneratorSpec:
        """From a spec, a dict (YAML), or a string: a model path/id, or `openai:<model>@<base_url>`."""
        if isinstance(value, GeneratorSpec):
            return value
        if isinstance(value, dict):
            return cls(**value)
        if value.startswith(f"{OPENAI}:"):
            model, at, base_url = value[len(OPENAI) + 1 :].partition("@")
            if not (model and at and base_url):
                raise ValueError(f"generator {value!r}: expected openai:<model>@<base_url>")
            return cls(model=model, kind=OPENAI, base_url=base_url)
        return cls(model=value)


class Generator(Protocol):
    name: str
    stats: GenerationStats

    def complete(self, prompts: Sequence[list[dict]], sampling: Sampling, seed: int | None = None) -> list[list[str]]:
        """`sampling.num_samples` replies to each conversation, in order."""
        ...


class LocalGenerator:
    def __init__(self, model, tokenizer, name: str, batch_size: int = 8):
        self.model, self.tokenizer, self.name, self.batch_size = model, tokenizer, name, batch_size
        self.stats = GenerationStats()

    @classmethod
    def from_spec(cls, spec: GeneratorSpec) -> LocalGenerator:
        import torch
        from transformers import AutoModelForCausalLM

        from ...tokenization import load_tokenizer

        device = spec.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForCausalLM.from_pretrained(spec.model, dtype=getattr(torch, spec.dtype)).to(device)
        return cls(model, load_tokenizer(spec.model), spec.name, spec.batch_size)

    def complete(self, prompts: Sequence[list[dict]], sampling: Sampling, seed: int | None = None) -> list[list[str]]:
        import torch

        from ...evaluation.generation import complete_chats

        if seed is not None:
            torch.manual_seed(seed)
        started = time.perf_counter()
        done = complete_chats(self.model, self.tokenizer, list(prompts), sampling, self.batch_size, progress=False)
        self.stats.add(len(prompts), done.texts, done.generated_tokens, started)
        return done.texts


class OpenAIGenerator:
    def __init__(self, spec: GeneratorSpec):
        import openai

        self.spec, self.name, self.stats = spec, spec.name, GenerationStats()
        self._count_lock = threading.Lock()  # requests and retries are counted from the worker threads
        api_key = spec.api_key or os.environ.get(spec.api_key_env) or "EMPTY"  # local servers take any key
        # retries are ours (counted, and the final error names the prompt), not the client's
        self.client = openai.OpenAI(base_url=spec.base_url, api_key=api_key, max_retries=0, timeout=spec.timeout)

    @classmethod
    def from_spec(cls, spec: GeneratorSpec) -> OpenAIGenerator:
        return cls(spec)

    def complete(self, prompts: Sequence[list[dict]], sampling: Sampling, seed: int | None = None) -> list[list[str]]:
        if sampling.repetition_penalty != 1.0:
            raise ValueError(
                f"{self.spec.base_url} ({self.name}): repetition_penalty={sampling.repetition_penalty} cannot be sent "
                "to an OpenAI-compatible server; use 1.0 or a local generator"
            )
        jobs = [(index, sample) for index in range(len(prompts)) for sample in range(sampling.num_samples)]
        budget = self.spec.max_requests
        if budget is not None and self.stats.requests + len(jobs) > budget:
            raise RequestBudgetExceeded(
                f"{self.spec.base_url} ({self.name}): {len(jobs)} more requests would pass max_requests={budget} "
                f"({self.stats.requests} made); finished items are kept, rerun with a larger max_requests to continue"
            )
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, self.spec.max_concurrency)) as pool:
            results = list(pool.map(lambda job: self._request(prompts[job[0]], sampling, _seed(seed, *job)), jobs))
        texts: list[list[str]] = [[] for _ in prompts]
        for (index, _), (text, _) in zip(jobs, results, strict=True):
            texts[index].append(text)
        self.stats.add(len(prompts), texts, sum(tokens for _, tokens in results), started)
        return texts

    def _request(self, messages: list[dict], sampling: Sampling, seed: int | None) -> tuple[str, int]:
        import openai

        retryable = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError,
                     openai.APIResponseValidationError, ValueError)  # fmt: skip
        options = {"max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature, "top_p": sampling.top_p,
                   "frequency_penalty": 0.0}  # fmt: skip
        if seed is not None:
            options["seed"] = seed
        for attempt in range(self.spec.max_retries + 1):
            with self._count_lock:
                if self.spec.max_requests is not None and self.stats.requests >= self.spec.max_requests:
                    raise RequestBudgetExceeded(  # retries count too: the cap is never passed
                        f"{self.spec.base_url} ({self.name}): max_requests={self.spec.max_requests} reached while "
                        "retrying; finished items are kept, rerun with a larger max_requests to continue"
                    )
                self.stats.requests += 1
            try:
                response = self.client.chat.completions.create(model=self.spec.model, messages=messages, **options)
                return _reply(response)
            except retryable as error:  # ValueError: an unparseable or empty body
                failure = error
                if attempt < self.spec.max_retries:
                    with self._count_lock:
                        self.stats.retries += 1
                    time.sleep(min(2**attempt * 0.5, 8.0))
            except openai.APIStatusError as error:  # 4xx other than 429: a retry would fail the same way
                failure = error
                break
        prompt = messages[-1]["content"] if messages else ""
        raise GenerationRequestError(
            f"{self.spec.base_url} model {self.spec.model!r}: request for prompt {prompt!r:.80} failed after "
            f"{attempt + 1} attempt(s): {type(failure).__name__}: {failure}"
        )


def _reply(response) -> tuple[str, int]:
    """The first choice's text and the completion tokens; ValueError for a body that is not a chat completion
    (the client hands a non-JSON body over as a plain string)."""
    try:
        text = response.choices[0].message.content
        usage = response.usage.completion_tokens if response.usage else 0
    except (AttributeError, IndexError, TypeError) as error:
        raise ValueError(f"the body is not a chat completion: {str(response)!r:.200}") from error
    if not isinstance(text, str):
        raise ValueError(f"the reply has no text content: {response.choices[0].message!r:.200}")
    return text.strip(), int(usage or 0)


def _seed(seed: int | None, index: int, sample: int) -> int | None:
    """One seed per (prompt, sample): replies to one prompt differ, and a rerun asks for the same ones."""
    return None if seed is None else (seed * 1_000_003 + index * 1009 + sample) % 2**31


def build_generator(spec: GeneratorSpec | str | dict) -> Generator:
    spec = GeneratorSpec.parse(spec)
    return (OpenAIGenerator if spec.kind == OPENAI else LocalGenerator).from_spec(spec)
