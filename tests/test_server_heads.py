"""Slow request heads and leaving clients, on the real `main.py serve` (a tiny model).

A connection has HEADER_SECONDS to complete its request head however it trickles in, and at most
HEAD_LIMIT connections may be sending heads at once; a client that leaves mid-generation is
cancelled once, with no asyncio error in the log.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from test_server import data_url, held_with, payload, post, serve_process, wait_until

from agent.server.runner import HEAD_LIMIT, HEADER_SECONDS

KEY = "s3cret"


@pytest.fixture(scope="module")
def screenshot(screenshot_paths) -> str:
    """A small crop of a real screenshot, as a data URL."""
    with Image.open(screenshot_paths[0]) as image:
        return data_url(image.convert("RGB").crop((0, 0, 448, 336)))


SLACK = 2.5  # seconds past the deadline a closing may take on a loaded CI machine


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def closed_at(sock: socket.socket, started: float, limit: float) -> tuple[float, bytes]:
    """When the server closed `sock` (seconds after `started`) and what it sent before."""
    sock.settimeout(0.2)
    received = b""
    while time.monotonic() - started < limit:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started, received
        if not chunk:
            return time.monotonic() - started, received
        received += chunk
    raise AssertionError(f"still open after {limit:.0f} s, sent {received[:80]!r}")


def trickle(sock: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    """One byte of `data` every `every` seconds, as a slow-header client sends."""
    for byte in data:
        if stop.wait(every):
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return


def test_every_slow_head_is_closed_by_the_deadline_and_descriptors_stay_bounded(
    tiny_model_dirs, screenshot
):
    model = tiny_model_dirs["qwen2.5"]
    with serve_process(model, key=KEY) as (process, url):
        address = (url.split("//")[1].split(":")[0], int(url.rsplit(":", 1)[1]))
        before = descriptors(process.pid)
        crowd = []
        for _ in range(1000):  # the crowd first: it is the oldest, closed first by the limit
            sock = socket.create_connection(address)
            sock.sendall(b"G")
            crowd.append(sock)
        kinds = {
            "partial request line": b"G",
            "request line, no headers yet": b"GET /health HTTP/1.1\r\n",
            "partial headers": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ab",
        }
        started = time.monotonic()
        slow = {name: socket.create_connection(address) for name in [*kinds, "a byte every 2 s"]}
        for name, data in kinds.items():
            slow[name].sendall(data)
        stop = threading.Event()
        head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" * 4
        threading.Thread(
            target=trickle, args=(slow["a byte every 2 s"], head, 2.0, stop), daemon=True
        ).start()
        try:
            # a keyed request is answered at once, the 1,000 sockets notwithstanding
            body = payload("hi", screenshot) | {"model": str(model)}
            asked = time.monotonic()
            answer = post(url, body, headers={"Authorization": f"Bearer {KEY}"})
            assert answer.status_code == 200, answer.text
            assert time.monotonic() - asked < HEADER_SECONDS / 2
            held = descriptors(process.pid)
            assert held <= before + HEAD_LIMIT + 16, (before, held)  # not one per socket
            for name, sock in slow.items():
                seconds, sent = closed_at(sock, started, HEADER_SECONDS + SLACK + 2)
                assert HEADER_SECONDS - 0.5 <= seconds <= HEADER_SECONDS + SLACK, (name, seconds)
                status, _, rest = sent.partition(b"\r\n")
                assert status == b"HTTP/1.1 408 Request Timeout", (name, sent)
                error = json.loads(rest.split(b"\r\n\r\n", 1)[1])["error"]
                assert error["code"] == "request_timeout", name
            for sock in crowd:  # every one of the crowd is closed too, by the limit or deadline
                seconds, _ = closed_at(sock, started, HEADER_SECONDS + SLACK)
        finally:
            stop.set()
            for sock in [*crowd, *slow.values()]:
                sock.close()
        wait_until(lambda: descriptors(process.pid) <= before + 4)
        ok = post(url, body, headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200


def test_a_client_that_leaves_mid_generation_is_cancelled_once_without_asyncio_errors(
    tiny_model_dirs, screenshot
):
    model = tiny_model_dirs["qwen2.5"]
    key = {"Authorization": f"Bearer {KEY}"}
    tries = 6
    body = payload("hi", screenshot) | {"model": str(model), "max_tokens": 4096}
    encoded = json.dumps(body).encode()
    with serve_process(model, "--max-concurrency", "1", key=KEY) as (process, url):
        address = (url.split("//")[1].split(":")[0], int(url.rsplit(":", 1)[1]))
        for _ in range(tries):
            sock = socket.create_connection(address)
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n".encode()
                + f"Content-Length: {len(encoded)}\r\n\r\n".encode()
                + encoded
            )
            wait_until(lambda: held_with(url, key) == 1)  # it runs
            time.sleep(0.3)
            sock.close()  # the client leaves
            wait_until(lambda: held_with(url, key) == 0)
        short = body | {"max_tokens": 2}
        assert post(url, short, headers=key).status_code == 200  # the server is well
        process.terminate()
        stderr = process.stderr.read()
        assert process.wait(60) == 0, stderr
    assert "never retrieved" not in stderr and "Traceback" not in stderr, stderr
    assert stderr.count("request cancelled: the client closed the connection") == tries, stderr


def test_the_head_limits_are_the_documented_ones():
    serving = (Path(__file__).resolve().parents[1] / "docs" / "serving.md").read_text()
    assert f"{HEADER_SECONDS:.0f} s" in serving and str(HEAD_LIMIT) in serving
