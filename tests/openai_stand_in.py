"""A stand-in OpenAI-compatible chat server, run as its own process so that tests drive the `openai` client
over real HTTP.

    python tests/openai_stand_in.py --port 0 [--model_dir DIR] [--fail_first N] [--garbage [CONTENT_TYPE]]

It prints its bound port on stdout (one line, once it is ready), then serves `POST /v1/chat/completions` in
the OpenAI response format until it is terminated or `--lifetime` seconds have passed.

- Replies: with `--model_dir`, the model's own reply to the chat template of one conversation (no padding,
  plain `generate`; greedy at temperature 0, else sampled after seeding with the request's `seed`) and its
  generated tokens up to and including EOS as `completion_tokens`; without it, an echo of the last message
  cut to `max_tokens` characters (a character counts as a token).
- Failures on demand: `--fail_first N` answers 500 to the first N completion requests; `--garbage` answers
  every one with a 200 whose body is not JSON (sent as `application/json` unless a content type is given).
- `GET /stand_in/requests` lists every completion request received: its `Authorization` header, its JSON
  body and the status answered, so a test can check what the client sent.

`StandIn` starts one for a test and always ends it. Hand-written because the point is a real endpoint that
misbehaves on demand, which vLLM and `transformers serve` do not (and both are far too heavy for a unit test).
"""

from __future__ import annotations

import argparse
import json
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMPLETIONS = "/v1/chat/completions"
REQUEST_LOG = "/stand_in/requests"


class EchoReplies:
    """The last message's text, at most `max_tokens` characters."""

    def reply(self, body: dict) -> tuple[str, int, int, str]:
        """(text, prompt tokens, completion tokens, finish reason)"""
        text, limit = str(body["messages"][-1].get("content", "")), int(body.get("max_tokens") or 2**31)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body["messages"])
        return text[:limit], prompt_chars, min(len(text), limit), "length" if len(text) > limit else "stop"


class ModelReplies:
    """A local causal LM answering one conversation at a time with plain `generate`."""

    def __init__(self, model_dir: str):
        import torch
        from transformers import AutoModelForCausalLM

        import xuanyuan  # noqa: F401  (registers the XuanYuan Auto classes)
        from xuanyuan.tokenization import load_tokenizer

        self.torch, self.tokenizer = torch, load_tokenizer(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.lock = threading.Lock()  # one generation at a time: the global seed and the model are shared

    def reply(self, body: dict) -> tuple[str, int, int, str]:
        torch, tokenizer = self.torch, self.tokenizer
        ids = tokenizer.apply_chat_template(body["messages"], add_generation_prompt=True, tokenize=True,
                                            return_dict=False)  # fmt: skip
        temperature = float(body.get("temperature") or 0.0)
        if temperature > 0:
            options = {"do_sample": True, "temperature": temperature, "top_p": float(body.get("top_p") or 1.0)}
        else:
            options = {"do_sample": False, "temperature": None, "top_p": None}
        with self.lock, torch.no_grad():
            if body.get("seed") is not None:
                torch.manual_seed(int(body["seed"]))
            output = self.model.generate(
                torch.tensor([list(ids)]), max_new_tokens=int(body.get("max_tokens") or 16), top_k=None,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **options,
            )[0, len(ids) :].tolist()  # fmt: skip
        stopped = tokenizer.eos_token_id in output
        generated = output[: output.index(tokenizer.eos_token_id) + 1] if stopped else output
        text = tokenizer.decode(generated, skip_special_tokens=True)
        return text, len(ids), len(generated), "stop" if stopped else "length"


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, replies, fail_first: int, garbage: str | None):
        super().__init__(address, Handler)
        self.replies, self.fail_first, self.garbage = replies, fail_first, garbage
        self.lock, self.received = threading.Lock(), []


class Handler(BaseHTTPRequestHandler):
    timeout = 30  # a client that stalls mid-request frees its thread
    server: StandInServer

    def log_message(self, format, *args):  # quiet: the tests read the request log instead
        pass

    def send_json(self, status: int, payload, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != REQUEST_LOG:
            return self.send_json(404, error(f"no such path {self.path}", "not_found"))
        with self.server.lock:
            self.send_json(200, list(self.server.received))

    def do_POST(self):
        if self.path != COMPLETIONS:
            return self.send_json(404, error(f"no such path {self.path}", "not_found"))
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
            problem = None if isinstance(body.get("messages"), list) and body["messages"] else "messages: a list"
            problem = problem or (None if body.get("n", 1) == 1 else "n: the stand-in answers one choice")
        except (ValueError, AttributeError):
            body, problem = raw.decode("utf-8", "replace"), "the body must be a JSON object"
        with self.server.lock:
            number = len(self.server.received) + 1
            status = 400 if problem else 500 if number <= self.server.fail_first else 200
            entry = {"authorization": self.headers.get("Authorization"), "body": body, "status": status}
            self.server.received.append(entry)
        if status == 400:
            return self.send_json(400, error(problem, "invalid_request_error"))
        if status == 500:
            return self.send_json(500, error(f"stand-in failure {number} of {self.server.fail_first}", "server_error"))
        if self.server.garbage:
            return self.send_json(200, b"<html>this is not a chat completion", self.server.garbage)
        try:
            text, prompt_tokens, completion_tokens, finish_reason = self.server.replies.reply(body)
        except Exception as failure:  # answered, so that the client sees why instead of a dropped connection
            with self.server.lock:
                entry["status"] = 500
            return self.send_json(500, error(f"{type(failure).__name__}: {failure}", "server_error"))
        self.send_json(200, {
            "id": f"chatcmpl-stand-in-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                         "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })  # fmt: skip


def error(message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class StandIn:
    """The stand-in in its own process for a test: `base_url`, `requests()`; `stop()` (or leaving a `with`
    block) terminates it, and kills it if it does not end within seconds."""

    def __init__(self, *flags: str, startup_timeout: float = 120.0):
        self.stderr = tempfile.TemporaryFile()
        command = [sys.executable, __file__, "--port", "0", *flags]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        deadline, printed = time.monotonic() + startup_timeout, []
        while not (printed and printed[-1].strip().isdigit()):  # libraries may print before the port line
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            printed.append(self.process.stdout.readline() if ready else "")
            if not printed[-1]:  # timed out, or the process ended
                self._end()
                self.stderr.seek(0)
                output = "".join(printed) + self.stderr.read().decode()
                self.stop()
                raise RuntimeError(f"the stand-in did not start ({' '.join(flags)}): {output}")
        self.port = int(printed[-1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def requests(self) -> list[dict]:
        """Every completion request received so far, in arrival order."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{REQUEST_LOG}", timeout=10) as response:
            return json.load(response)

    def stop(self) -> None:
        self._end()
        self.process.stdout.close()
        self.stderr.close()

    def _end(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model_dir", default=None, help="Answer with this causal LM (default: echo).")
    parser.add_argument("--fail_first", type=int, default=0, help="Answer 500 to the first N requests.")
    parser.add_argument("--garbage", nargs="?", const="application/json", default=None, metavar="CONTENT_TYPE",
                        help="Answer 200 with a body that is not JSON, sent as this content type.")  # fmt: skip
    parser.add_argument("--lifetime", type=float, default=600.0, help="Shut down after this many seconds.")
    args = parser.parse_args()
    replies = ModelReplies(args.model_dir) if args.model_dir else EchoReplies()
    server = StandInServer((args.host, args.port), replies, args.fail_first, args.garbage)
    deadline = threading.Timer(args.lifetime, server.shutdown)  # never outlives a test run that lost track of it
    deadline.daemon = True
    deadline.start()
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
