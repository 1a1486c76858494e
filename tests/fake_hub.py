"""A Hugging Face hub on loopback, serving one model folder, for the download tests.

    with FakeHub(folder, "someone/tiny") as hub:      # HF_ENDPOINT=hub.url
        ...

It answers what `huggingface_hub` asks while downloading a snapshot: the model's info (files
and sizes at one commit), then each file by HEAD (commit, etag, size) and GET (with `Range`, for
resuming). `cut` names a file whose first GET stops halfway, as a dropped connection would.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self, folder: Path, repo: str, *, cut: str | None = None) -> None:
        self.folder, self.repo, self.cut = folder, repo, cut
        self.files = sorted(
            p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
        )
        self.ranges: list[str] = []  # the Range headers received
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._file(body=False)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path.startswith(f"/api/models/{hub.repo}/tree/"):
                    return self._tree()
                if path.startswith(f"/api/models/{hub.repo}"):
                    return self._info()
                if path.startswith("/api/"):  # as the hub answers for an unknown repository
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._file(body=True)

            def _info(self) -> None:
                siblings = [
                    {"rfilename": name, "size": (hub.folder / name).stat().st_size}
                    for name in hub.files
                ]
                info = {"id": hub.repo, "modelId": hub.repo, "sha": COMMIT, "siblings": siblings}
                self._send(200, json.dumps(info).encode(), "application/json")

            def _tree(self) -> None:
                entries = [
                    {
                        "type": "file",
                        "path": name,
                        "size": (hub.folder / name).stat().st_size,
                        "oid": hashlib.sha1((hub.folder / name).read_bytes()).hexdigest(),
                    }
                    for name in hub.files
                ]
                self._send(200, json.dumps(entries).encode(), "application/json")

            def _file(self, *, body: bool) -> None:
                match = re.fullmatch(rf"/{re.escape(hub.repo)}/resolve/[^/]+/(.+)", self.path)
                name = match.group(1) if match else ""
                if name not in hub.files:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                data = (hub.folder / name).read_bytes()
                start = 0
                if body and (wanted := self.headers.get("Range")):
                    hub.ranges.append(wanted)
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if not body:
                    return
                if name == hub.cut:
                    hub.cut = None  # once: the retry gets everything
                    self.wfile.write(data[start : start + (len(data) - start) // 2])
                    self.wfile.flush()
                    self.connection.close()
                    return
                self.wfile.write(data[start:])

            def _send(self, status: int, data: bytes, media: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
