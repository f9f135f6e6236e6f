"""The chat session and the terminal chat: streamed replies equal `generate`'s greedy ones, the template carries the
history, `/reset` and `/system` work, truncation leaves out the oldest turns, and adapter, 4-bit and GPTQ folders
load."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from chat_toy import ANSWERS, conversations, train_chat_model
from transformers import GenerationConfig

from xuanyuan.chat import ChatSession, ContextOverflowError, chat_sampling, load_chat_model
from xuanyuan.chat.__main__ import main, parse_args
from xuanyuan.chat_format import XUANYUAN_SYSTEM_PROMPT
from xuanyuan.evaluation.generation import Sampling
from xuanyuan.hub import CHAT_SAMPLING

ROOT = Path(__file__).resolve().parents[1]
Q1, Q2, Q3 = ANSWERS
GREEDY = Sampling(max_new_tokens=16, temperature=0.0, repetition_penalty=CHAT_SAMPLING["repetition_penalty"])
GREEDY_FLAGS = ["--greedy", "--max_new_tokens", "16"]


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory) -> Path:
    return train_chat_model(tmp_path_factory.mktemp("chat_model"))


@pytest.fixture(scope="module")
def loaded(chat_model):
    return load_chat_model(chat_model, device="cpu")


def encode(tokenizer, messages: list[dict]) -> list[int]:
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)


def greedy_reference(model, tokenizer, messages: list[dict], max_new_tokens: int = 16) -> str:
    """Plain `generate` on the template's rendering of `messages`: the reply the chat should show."""
    ids = torch.tensor([encode(tokenizer, messages)])
    output = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        repetition_penalty=CHAT_SAMPLING["repetition_penalty"],
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True).strip()


def system(text: str = XUANYUAN_SYSTEM_PROMPT) -> dict:
    return {"role": "system", "content": text}


def turn(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def test_streamed_reply_equals_whole_reply_and_generate(loaded):
    model, tokenizer = loaded
    expected = greedy_reference(model, tokenizer, [system(), {"role": "user", "content": Q1}])
    assert len(expected) >= 4  # a real sentence, not an immediate EOS
    pieces = list(ChatSession(model, tokenizer, sampling=GREEDY).stream(Q1))
    assert len(pieces) > 1 and "".join(pieces) == expected
    session = ChatSession(model, tokenizer, sampling=GREEDY)
    assert session.reply(Q1) == expected
    assert session.history == turn(Q1, expected)
    assert 0 < session.generated_tokens <= GREEDY.max_new_tokens


def test_second_turn_prompt_holds_the_first(loaded):
    model, tokenizer = loaded
    session = ChatSession(model, tokenizer, sampling=GREEDY)
    first = session.reply(Q1)
    rendered = tokenizer.decode(session.prompt_ids(Q2))
    assert rendered == f"<s>{XUANYUAN_SYSTEM_PROMPT}\n Human: {Q1} Assistant: {first}</s>Human: {Q2} Assistant:"
    expected = greedy_reference(model, tokenizer, [system(), *turn(Q1, first), {"role": "user", "content": Q2}])
    assert session.reply(Q2) == expected
    session.reset()
    assert session.history == [] and tokenizer.decode(session.prompt_ids(Q2)).startswith(
        f"<s>{XUANYUAN_SYSTEM_PROMPT}\n Human: {Q2} Assistant:"
    )


def test_truncation_leaves_out_the_oldest_turns_only(loaded):
    model, tokenizer = loaded
    history = turn(Q1, "一" * 20) + turn(Q2, "二" * 20) + turn(Q3, "三" * 20)
    keep_last = encode(tokenizer, [system(), *history[4:], {"role": "user", "content": "新问题"}])
    keep_two = encode(tokenizer, [system(), *history[2:], {"role": "user", "content": "新问题"}])
    room = GREEDY.max_new_tokens
    # the context holds the system prompt, the last exchange and the new message, not one exchange more
    session = ChatSession(model, tokenizer, sampling=GREEDY, max_length=len(keep_last) + room, history=list(history))
    assert len(keep_two) + room > session.max_length
    ids = session.prompt_ids("新问题")
    assert tokenizer.decode(ids) == (
        f"<s>{XUANYUAN_SYSTEM_PROMPT}\n Human: {Q3} Assistant: {'三' * 20}</s>Human: 新问题 Assistant:"
    )
    assert session.turns_left_out == 4 and session.history == history  # left out of the prompt, not forgotten
    session.reply("新问题")
    assert len(session.history) == 8
    # the new message alone is larger than the context: a clear error, not a silently cut message
    small = ChatSession(model, tokenizer, sampling=GREEDY, max_length=len(keep_last) - 10)
    with pytest.raises(ContextOverflowError, match="context holds"):
        small.reply("新问题" * 30)
    assert small.history == []


def test_context_length_defaults_to_the_models(loaded):
    model, tokenizer = loaded
    assert ChatSession(model, tokenizer).max_length == model.config.max_position_embeddings == 256


def test_sampling_comes_from_flags_then_generation_config_then_chat_defaults():
    config = GenerationConfig(do_sample=True, temperature=0.3, max_new_tokens=12)
    assert chat_sampling(config) == Sampling(
        max_new_tokens=12, temperature=0.3, top_p=CHAT_SAMPLING["top_p"], repetition_penalty=1.1
    )
    assert chat_sampling(config, top_p=0.5, max_new_tokens=None).top_p == 0.5
    assert chat_sampling(config, greedy=True).temperature == 0
    assert chat_sampling(GenerationConfig(do_sample=False)).temperature == 0
    assert chat_sampling(GenerationConfig()).temperature == CHAT_SAMPLING["temperature"]


def test_generation_stops_when_the_reader_stops(loaded, monkeypatch):
    model, tokenizer = loaded
    monkeypatch.setattr(model.generation_config, "suppress_tokens", [tokenizer.eos_token_id])  # never ends by itself
    steps = []
    handle = model.register_forward_hook(lambda *args: steps.append(1))
    try:
        session = ChatSession(model, tokenizer, sampling=Sampling(max_new_tokens=200, repetition_penalty=1.1))
        stream = session.stream(Q1)
        shown = next(stream)
        stream.close()
    finally:
        handle.remove()
    assert len(steps) < 50 and session.generated_tokens == len(steps)
    assert session.history == turn(Q1, shown.rstrip())


def run_piped(model_dir: Path, lines: list[str], *flags: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "xuanyuan.chat", str(model_dir), *flags],
        input="".join(line + "\n" for line in lines),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_pipe_answers_one_line_per_message_with_commands(chat_model, loaded):
    model, tokenizer = loaded
    session = ChatSession(model, tokenizer, sampling=GREEDY)
    first, second = session.reply(Q1), session.reply(Q2)
    session.reset()
    again = session.reply(Q1)
    session.system_prompt = "你是金融助手。"
    third = session.reply(Q3)
    assert first == again == greedy_reference(model, tokenizer, [system(), {"role": "user", "content": Q1}])
    script = [Q1, Q2, "/reset", "", Q1, "/system 你是金融助手。", Q3, "/exit", "not read"]
    assert run_piped(chat_model, script, *GREEDY_FLAGS) == [first, second, again, third]


def read_until_closed(fd: int, timeout: float) -> str:
    output, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 1)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    return output.decode("utf-8", errors="replace")


def test_terminal_prompts_streams_and_obeys_commands(chat_model, loaded):
    model, tokenizer = loaded
    expected = ChatSession(model, tokenizer, sampling=GREEDY).reply(Q1)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "xuanyuan.chat", str(chat_model), *GREEDY_FLAGS],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=ROOT,
        env={**os.environ, "TERM": "dumb"},  # readline without escape sequences
    )
    os.close(terminal)
    os.write(controller, f"{Q1}\n/system\n/reset\n/exit\n".encode())
    output = read_until_closed(controller, timeout=300)
    os.close(controller)
    assert process.wait(timeout=60) == 0
    assert "Chatting with" in output and "/reset" in output
    assert f"Assistant: {expected}\r\n" in output
    assert f"system prompt: {XUANYUAN_SYSTEM_PROMPT}" in output and "(conversation cleared)" in output


def test_lora_adapter_folder_loads_merged_with_its_settings(chat_model, loaded, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model, tokenizer = loaded
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(chat_model, dtype=torch.float32)
    adapted = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)).eval()
    adapted.generation_config.max_new_tokens = 7
    adapted.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    adapted.generation_config.save_pretrained(tmp_path)

    merged, adapter_tokenizer = load_chat_model(tmp_path, device="cpu", dtype="float32")
    ids = torch.tensor([encode(tokenizer, [system(), {"role": "user", "content": Q1}])])
    with torch.no_grad():
        expected, base_logits, got = adapted(ids).logits, model(ids).logits.float(), merged(ids).logits
    assert torch.allclose(got, expected, atol=1e-4) and not torch.allclose(got, base_logits, atol=1e-2)
    assert chat_sampling(merged.generation_config).max_new_tokens == 7
    assert ChatSession(merged, adapter_tokenizer, sampling=GREEDY).reply(Q1) == greedy_reference(
        merged, adapter_tokenizer, [system(), {"role": "user", "content": Q1}]
    )


def test_four_bit_checkpoint_loads_and_answers(chat_model, tmp_path):
    pytest.importorskip("bitsandbytes", reason="the `bnb` extra (bitsandbytes) is not installed")
    from bitsandbytes.nn import Linear4bit

    from xuanyuan.quantization import quantize_bnb

    quantize_bnb(str(chat_model), tmp_path, bits=4)
    model, tokenizer = load_chat_model(tmp_path, device="cpu")
    assert any(isinstance(module, Linear4bit) for module in model.modules())
    try:
        expected = greedy_reference(model, tokenizer, [system(), {"role": "user", "content": Q1}])
    except (RuntimeError, NotImplementedError) as error:  # no 4-bit kernel for this machine
        pytest.skip(f"bitsandbytes cannot run 4-bit here: {error}")
    assert expected and ChatSession(model, tokenizer, sampling=GREEDY).reply(Q1) == expected


def test_gptq_checkpoint_answers_and_the_pipe_carries_only_replies(chat_model, loaded, tmp_path):
    for package in ("gptqmodel", "optimum"):
        pytest.importorskip(package, reason="the `gptq` extra is not installed")
    from xuanyuan.quantization import GPTQSettings, quantize_gptq

    _, dense_tokenizer = loaded
    chats = [dense_tokenizer.apply_chat_template([system(), *chat], return_dict=False) for chat in conversations()]
    calibration = [{"input_ids": ids, "attention_mask": [1] * len(ids)} for ids in chats]
    path = quantize_gptq(str(chat_model), tmp_path / "gptq", calibration, GPTQSettings(bits=4, group_size=32))
    model, tokenizer = load_chat_model(path, device="cpu")
    assert model.config.quantization_config.bits == 4
    assert any(hasattr(module, "qweight") for module in model.modules())  # packed 4-bit linears, not dense ones
    expected = greedy_reference(model, tokenizer, [system(), {"role": "user", "content": Q1}])
    assert expected and ChatSession(model, tokenizer, sampling=GREEDY).reply(Q1) == expected
    # a fresh process imports gptqmodel, which prints a banner and its kernel choice: none of it may reach stdout
    assert run_piped(path, [Q1], *GREEDY_FLAGS) == [expected]


def test_web_without_gradio_names_the_extra_before_loading(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` fails
    monkeypatch.setattr("xuanyuan.chat.loading.load_chat_model", lambda *args: pytest.fail("loaded a model"))
    with pytest.raises(SystemExit, match=r"pip install 'xuanyuan-recipes\[web\]'"):
        main([str(ROOT), "--web"])


def test_command_line_checks(capsys):
    with pytest.raises(SystemExit):
        parse_args(["/no/such/model"])
    assert "/no/such/model: no such model folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args([str(ROOT), "--compare", str(ROOT)])
    assert "--compare needs --web" in capsys.readouterr().err
