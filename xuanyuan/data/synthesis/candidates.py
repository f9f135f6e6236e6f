"""Candidate responses for preference labelling: 2–4 sampled replies per prompt from one or several generators.

XuanYuan's labellers compare 2–4 responses to a prompt. `sample_candidates` asks every generator for
`sampling.num_samples` replies per prompt (at a raised temperature / top_p, so that they differ) through the
resumable `SynthesisRun`, then sets aside, each with its reason, empty replies and exact repeats of an earlier reply
to the same prompt (a labeller cannot prefer a response over itself), and prompts left with fewer than two distinct
replies. Prompts are read by `conversations.load_prompts` from SFT records (`messages` ending with the assistant's
reply, which is left out), RL prompt records (`prompt` text or `messages` ending with the user's turn) or
`{id, prompt}` records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict

from ...evaluation.generation import Sampling
from .generators import Generator
from .labelling import LETTERS
from .runner import SynthesisRun


def sample_candidates(
    run: SynthesisRun,
    prompts: Sequence[dict],
    generators: Sequence[Generator],
    sampling: Sampling,
    chunk_size: int = 16,
) -> list[dict]:
    """The prompts that kept at least two distinct replies, each with `candidates`: `[{generator, sample,
    response}]` in generator order. Steps: `sample`, `distinct_responses` (per reply), `enough_responses`."""
    total = len(generators) * sampling.num_samples
    if not 2 <= total <= len(LETTERS):
        raise ValueError(f"{len(generators)} generator(s) x {sampling.num_samples} sample(s) = {total} responses per "
                         f"prompt; a labelling sheet compares 2 to {len(LETTERS)}")  # fmt: skip
    names = [generator.name for generator in generators]
    if len(set(names)) < len(names):
        raise ValueError(f"generator names {names} repeat; the key tells responses apart by generator name")

    def process(chunk: list[dict], seed: int) -> list[dict]:
        conversations = [item["prompt"] for item in chunk]
        outputs = [{**item, "candidates": []} for item in chunk]
        for index, generator in enumerate(generators):
            replies = generator.complete(conversations, sampling, seed + index)
            for output, texts in zip(outputs, replies, strict=True):
                output["candidates"] += [{"generator": generator.name, "sample": sample, "response": text}
                                         for sample, text in enumerate(texts)]  # fmt: skip
        return outputs

    settings = {"generators": names, "sampling": asdict(sampling)}
    sampled = run.generate("sample", prompts, process, chunk_size, settings)
    responses = [{"prompt_id": item["id"], **candidate} for item in sampled for candidate in item["candidates"]]
    by_prompt = defaultdict(list)
    for response in run.filter("distinct_responses", responses, response_verdicts(responses)):
        by_prompt[response.pop("prompt_id")].append(response)
    grouped = [{**item, "candidates": by_prompt[item["id"]]} for item in sampled]
    verdicts = [
        None if len(item["candidates"]) >= 2
        else f"too_few_responses: {len(item['candidates'])} distinct response(s), a comparison needs 2"
        for item in grouped
    ]  # fmt: skip
    return run.filter("enough_responses", grouped, verdicts)


def response_verdicts(responses: Sequence[dict]) -> list[str | None]:
    """None for a reply to keep; the reason for an empty one or an exact repeat of an earlier reply to its prompt."""
    first: dict[tuple[str, str], dict] = {}
    verdicts = []
    for response in responses:
        if not response["response"].strip():
            verdicts.append("empty_response: the generator returned no text")
            continue
        earlier = first.setdefault((response["prompt_id"], response["response"]), response)
        repeat = f"duplicate_response: same text as {earlier['generator']} sample {earlier['sample']}"
        verdicts.append(None if earlier is response else repeat)
    return verdicts
