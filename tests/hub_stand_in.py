"""A stand-in for the Hub's upload API, so that tests push with huggingface_hub's own code over real HTTP.

    with HubStandIn() as hub:   # serves on 127.0.0.1 in a thread; point a child process at it with HF_ENDPOINT
        subprocess.run(..., env={**os.environ, "HF_ENDPOINT": hub.endpoint})
    hub.repos        # repo id -> the JSON body of its create request (`visibility`, ...)
    hub.files        # repo id -> {path in repo: bytes} of everything committed
    hub.authorizations, hub.unexpected

It answers what `HfApi.create_repo` and `HfApi.upload_folder` (huggingface_hub 2.x) send: `POST /api/repos/create`,
`POST /api/validate-yaml` (the README's metadata), `POST /api/models/<repo>/preupload/<revision>` (answered
"regular" for every file, so contents travel base64-encoded in the commit instead of through LFS/Xet storage,
which a stand-in cannot offer) and `POST /api/models/<repo>/commit/<revision>` (an ndjson header plus one line
per file). Anything else is recorded in `unexpected` and answered 404. Hand-written: huggingface_hub ships no
test server, and the point is to check the bytes that arrive.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO_ROUTE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<action>preupload|commit)/(?P<revision>[^/?]+)")


class HubStandIn:
    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.files: dict[str, dict[str, bytes]] = defaultdict(dict)
        self.authorizations: list[str | None] = []
        self.unexpected: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def answer(self, path: str, body: bytes) -> tuple[int, dict]:
        if path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request['organization']}/{request['name']}"
            self.repos[repo_id] = request
            return 200, {"url": f"{self.endpoint}/{repo_id}"}
        if path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        route = REPO_ROUTE.match(path)
        if route and route["repo"] in self.repos and route["action"] == "preupload":
            files = json.loads(body)["files"]
            modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files]
            return 200, {"files": modes}
        if route and route["repo"] in self.repos and route["action"] == "commit":
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    value = item["value"]
                    self.files[route["repo"]][value["path"]] = base64.b64decode(value["content"])
                elif item["key"] != "header":
                    self.unexpected.append(f"commit line {item['key']}")
            return 200, {"commitUrl": f"{self.endpoint}/{route['repo']}/commit/{'0' * 40}", "commitOid": "0" * 40}
        self.unexpected.append(path)
        return 404, {"error": f"not served by the stand-in: {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.authorizations.append(self.headers.get("Authorization"))
                status, reply = hub.answer(self.path.split("?", 1)[0], body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                hub.unexpected.append(f"GET {self.path}")
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler
