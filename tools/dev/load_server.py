"""Load test of `main.py serve`: simulated agents sending chat requests with real screenshots.

    python -m tools.dev.load_server --spawn-tiny --agents 4 --requests 6 --image-size 960x540
    python -m tools.dev.load_server --spawn-tiny --soak 60     # good, bad, huge, gone, slow head

Loopback servers only. Each request is first sent alone (reference and sequential baseline); in
the concurrent pass each answer must carry its own request's fingerprint (checked pairwise
distinct) and a unique id. A text differing from the reference is reported, not counted as lost
(bf16 batch padding may flip a near-tie token). Details: docs/serving.md.
`--soak SECONDS` instead mixes good, malformed, oversized, abandoned and slow-header requests
(a head trickled a byte every 2 s: the server must answer 408 and close it by its deadline) and
reports answered / refused / lost per kind and the server's RSS at start and end (a spawned
server, or `--pid`). Exit status: 0 all answered and attributed (soak: nothing lost, still healthy),
1 errors, lost or mismatched answers, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from agent.backends.remote import image_data_url
from agent.commands.serve import is_loopback
from agent.server.runner import HEADER_SECONDS
from tools.processes import stop_processes

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "data"
FILLER_STEP = 8  # filler words per request number: more than a nonce's token count varies

__all__ = ["main"]


@dataclass(frozen=True)
class Planned:
    """One request of one agent."""

    agent: int
    number: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What came back for one request (status None: no HTTP answer at all)."""

    planned: Planned
    status: int | None
    seconds: float
    reply: dict[str, Any] | None
    error: str | None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _check_args(args)
        images = load_screenshots(args.agents, args.image_size)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with _server(args) as (url, model, pid):
        if args.soak:
            return run_soak(args, url, model, images, pid)
        return run_load(args, url, model, images)


def run_load(args: argparse.Namespace, url: str, model: str, images: list[str]) -> int:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    plans = plan(args.agents, args.requests, model, images, args.max_tokens)
    deadline = time.monotonic() + args.max_seconds
    print(f"server {url}, model {model!r}")
    print(f"{args.agents} agents x {args.requests} requests, max_tokens {args.max_tokens}")
    started = time.perf_counter()
    with httpx.Client(headers=headers, timeout=args.max_seconds) as client:
        alone = [send(client, url, p) for agent in plans for p in agent]
    print(summary("sequential", alone, time.perf_counter() - started))
    failed = [o for o in alone if o.status != 200]
    if failed:
        print(f"reference pass failed: {describe(failed[0])}", file=sys.stderr)
        return 1
    if len({fingerprint(o.reply) for o in alone}) != len(alone):
        print("error: two requests have the same fingerprint; cannot attribute", file=sys.stderr)
        return 1
    reference = {(o.planned.agent, o.planned.number): o for o in alone}
    before = _health(url, headers)
    started = time.perf_counter()
    outcomes = run_agents(url, plans, headers, deadline)
    wall = time.perf_counter() - started
    after = _health(url, headers)
    print(summary("concurrent", outcomes, wall))
    batches = after["batches"] - before["batches"]
    if batches:
        print(f"  mean batch size {(after['served'] - before['served']) / batches:.2f}")
    return verify(plans, outcomes, reference)


SOAK_KINDS = ("good", "malformed", "oversized", "abandoned", "slow-header")
TRICKLE_SECONDS = 2.0  # a slow-header request sends one byte this often
CLOSE_SLACK = 3.0  # seconds past the server's head deadline its closing may take


def run_soak(
    args: argparse.Namespace, url: str, model: str, images: list[str], pid: int | None
) -> int:
    """`--soak`: agents send a random mix of requests until the time is up; 1 if any is lost."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    huge = image_data_url(Image.new("RGB", (9000, 9000), "white"))  # small file, 81 M pixels
    counts: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()
    rss_start = rss_mib(pid)
    deadline = time.monotonic() + args.soak

    def agent(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(headers=headers, timeout=args.max_seconds) as client:
            while time.monotonic() < deadline:
                kind = rng.choice(SOAK_KINDS)
                image = huge if kind == "oversized" else images[number % len(images)]
                verdict = soak_one(kind, client, url, model, image, args.max_tokens)
                with lock:
                    counts[kind, verdict] += 1

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(args.agents)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    healthy = _health(url, headers).get("max_queue") is not None
    rss_end = rss_mib(pid)
    print(f"soak {args.soak:g} s, {args.agents} agents, server {url}")
    for kind in SOAK_KINDS:
        row = ", ".join(f"{v} {counts[kind, v]}" for v in ("answered", "refused", "lost", "left"))
        print(f"  {kind:<11} {row}")
    shown = [f"{v:.0f} MiB" if v is not None else "unknown" for v in (rss_start, rss_end)]
    print(f"  server RSS {shown[0]} at start, {shown[1]} at end; healthy: {healthy}")
    lost = sum(count for (_, verdict), count in counts.items() if verdict == "lost")
    return 0 if healthy and lost == 0 else 1


def soak_one(
    kind: str, client: httpx.Client, url: str, model: str, image: str, max_tokens: int
) -> str:
    """Send one request of `kind`: "answered" (2xx), "refused" (an error body), "lost" (no
    usable answer where one was due) or "left" (abandoned on purpose)."""
    chat = f"{url}/v1/chat/completions"
    body = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image}},
                    {"type": "text", "text": f"soak {secrets.token_hex(4)}"},
                ],
            }
        ],
    }
    if kind == "slow-header":
        return slow_header(url)
    if kind == "abandoned":
        host, port = httpx.URL(url).host, httpx.URL(url).port or 80
        data = json.dumps(body).encode()
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(head.encode() + data)
        return "left"
    try:
        if kind == "malformed":
            response = client.post(
                chat, content=b'{"model": ', headers={"content-type": "application/json"}
            )
        else:
            response = client.post(chat, json=body)
        reply = response.json()
    except (httpx.HTTPError, ValueError):
        return "lost"
    if response.is_success and "choices" in reply:
        return "answered"
    return "refused" if isinstance(reply.get("error"), dict) else "lost"


def slow_header(url: str) -> str:
    """A request head trickled a byte every TRICKLE_SECONDS: "refused" when the server answers
    408 and closes it within its deadline (HEADER_SECONDS from the connection's start), "lost"
    when it keeps the socket open past it (or closes it without a word)."""
    host, port = httpx.URL(url).host, httpx.URL(url).port or 80
    head = f"GET /health HTTP/1.1\r\nHost: {host}\r\n".encode() * 8
    started = time.monotonic()
    received = b""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.settimeout(TRICKLE_SECONDS)
        for byte in head:
            if time.monotonic() - started > HEADER_SECONDS + CLOSE_SLACK:
                return "lost"
            try:
                sock.sendall(bytes([byte]))
                chunk = sock.recv(4096)  # waits TRICKLE_SECONDS for the server's word
            except TimeoutError:
                continue
            except OSError:  # reset by the server
                break
            if not chunk:
                break
            received += chunk
    late = time.monotonic() - started > HEADER_SECONDS + CLOSE_SLACK
    return "lost" if late or not received.startswith(b"HTTP/1.1 408") else "refused"


def rss_mib(pid: int | None) -> float | None:
    """A process's resident memory in MiB (Linux /proc), None when unknown."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def plan(
    agents: int, requests: int, model: str, images: list[str], max_tokens: int
) -> list[list[Planned]]:
    """Every agent's requests; each text carries a nonce and a filler that grows per request.

    Agents that share a screenshot (more agents than screenshots) get disjoint filler lengths,
    so no two requests with the same image have the same prompt length.
    """
    plans = []
    for agent in range(agents):
        mine = []
        offset = images[:agent].count(images[agent]) * requests
        for number in range(requests):
            nonce = secrets.token_hex(4)
            filler = " x" * (FILLER_STEP * (offset + number))
            text = f"Agent {agent} step {number} nonce {nonce}: click Save.{filler}"
            content = [
                {"type": "image_url", "image_url": {"url": images[agent]}},
                {"type": "text", "text": text},
            ]
            body = {
                "model": model,
                "messages": [{"role": "user", "content": content}],
                "max_tokens": max_tokens,
                "temperature": 0,
            }
            mine.append(Planned(agent, number, body))
        plans.append(mine)
    return plans


def run_agents(
    url: str, plans: list[list[Planned]], headers: dict[str, str], deadline: float
) -> list[Outcome]:
    """All agents at once, each sending its requests in order until the deadline."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def agent(requests: list[Planned]) -> None:
        with httpx.Client(headers=headers) as client:
            for planned in requests:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                outcome = send(client, url, planned, timeout=left)
                with lock:
                    outcomes.append(outcome)

    threads = [threading.Thread(target=agent, args=(p,), daemon=True) for p in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def send(client: httpx.Client, url: str, planned: Planned, timeout: float | None = None) -> Outcome:
    start = time.perf_counter()
    try:
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        response = client.post(f"{url}/v1/chat/completions", json=planned.body, **options)
    except httpx.HTTPError as error:
        return Outcome(planned, None, time.perf_counter() - start, None, repr(error))
    seconds = time.perf_counter() - start
    try:
        reply = response.json()
    except ValueError:
        return Outcome(planned, response.status_code, seconds, None, response.text[:200])
    problem = None if response.status_code == 200 else str(reply.get("error", reply))[:200]
    return Outcome(planned, response.status_code, seconds, reply, problem)


def fingerprint(reply: dict[str, Any] | None) -> tuple[Any, ...]:
    """What ties an answer to its prompt: counts and masks that depend only on the request.

    Left out: the reply text, which a batch may change on a real model where a bf16 near-tie
    flips with padding; it is compared separately (`same_text`).
    """
    if reply is None:
        return ()
    usage = reply.get("usage", {})
    prune = usage.get("pixelprune", {})
    return (
        usage.get("prompt_tokens"),
        prune.get("image_tokens_full"),
        prune.get("image_tokens_kept"),
        tuple(image["keep"] for image in prune.get("images", [])),
    )


def text(reply: dict[str, Any] | None) -> str | None:
    return None if reply is None else reply["choices"][0]["message"]["content"]


def verify(
    plans: list[list[Planned]], outcomes: list[Outcome], reference: dict[tuple[int, int], Outcome]
) -> int:
    """Print what went wrong, if anything; 0 when every request got its own answer."""
    planned = sum(len(p) for p in plans)
    answered = [o for o in outcomes if o.status == 200]
    errors = Counter(str(o.status) for o in outcomes if o.status != 200)
    pairs = [(o.reply, reference[(o.planned.agent, o.planned.number)].reply) for o in answered]
    mismatched = sum(fingerprint(got) != fingerprint(alone) for got, alone in pairs)
    other_text = sum(text(got) != text(alone) for got, alone in pairs)
    ids = [o.reply["id"] for o in answered if o.reply]
    unique = len(set(ids)) == len(ids)
    not_sent = planned - len(outcomes)
    print(
        f"  answered {len(answered)}/{planned}; errors {dict(errors) or 0} (None: no answer); "
        f"not sent before the deadline {not_sent}"
    )
    print(
        f"  answers not matching their own request {mismatched}; ids unique {unique}; "
        f"texts differing from the answer alone {other_text}"
    )
    for outcome in [o for o in outcomes if o.status != 200][:3]:
        print(f"  {describe(outcome)}")
    return 0 if not (errors or not_sent or mismatched or not unique) else 1


def summary(name: str, outcomes: list[Outcome], wall: float) -> str:
    latencies = sorted(o.seconds for o in outcomes)
    return (
        f"{name}: {len(outcomes)} requests in {wall:.1f} s = {len(outcomes) / wall:.2f} req/s, "
        f"latency p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 95) * 1000:.0f} ms"
    )


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(share / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def describe(outcome: Outcome) -> str:
    where = f"agent {outcome.planned.agent} request {outcome.planned.number}"
    return f"{where}: status {outcome.status}: {outcome.error}"


def load_screenshots(agents: int, size: tuple[int, int] | None) -> list[str]:
    """One data URL per agent, from the real screenshots in tests/data (cycled)."""
    paths = sorted(SCREENSHOTS.glob("*.png"))
    if not paths:
        raise ValueError(f"no screenshots in {SCREENSHOTS}")
    urls = []
    for agent in range(agents):
        with Image.open(paths[agent % len(paths)]) as opened:
            image = opened.convert("RGB")
        if size is not None:
            image = image.resize(size, Image.Resampling.BICUBIC)
        urls.append(image_data_url(image))
    return urls


def is_loopback_url(url: str) -> bool:
    return is_loopback(httpx.URL(url).host)


@contextmanager
def _server(args: argparse.Namespace) -> Iterator[tuple[str, str, int | None]]:
    """(url, model id, server pid if known)."""
    if not args.spawn_tiny:
        yield args.url.rstrip("/"), args.model, args.pid
        return
    with tempfile.TemporaryDirectory() as folder:
        model = str(_tiny_model(Path(folder) / "tiny-qwen2.5"))
        with _spawned(model, args) as (url, pid):
            yield url, model, pid


def _tiny_model(folder: Path) -> Path:
    from tools.offline_models import build_tokenizer, save_random_model, tiny_config

    tokenizer = build_tokenizer()
    return save_random_model(folder, tiny_config("qwen2.5", tokenizer), tokenizer)


@contextmanager
def _spawned(model: str, args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """`main.py serve` on the model, on a free loopback port, stopped with Ctrl+C after."""
    command = [sys.executable, str(ROOT / "main.py"), "serve", "--model", model, "--quant"]
    command += ["none", "--port", "0", "--max-concurrency", str(args.max_concurrency)]
    command += ["--max-queue", str(max(args.agents, 1))]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stderr is not None
    lines: list[str] = []
    try:
        while not lines or "serving" not in lines[-1]:
            line = process.stderr.readline()
            if not line:
                raise RuntimeError("the server exited:\n" + "".join(lines[-20:]))
            lines.append(line)
        url = lines[-1].split(" on ", 1)[1].split()[0]
        errors = process.stderr
        if errors is not None:  # started with stderr=PIPE
            threading.Thread(target=lambda: lines.extend(errors), daemon=True).start()
        yield url, process.pid
    finally:
        stop_processes([process], signal.SIGINT, timeout=30)


def _health(url: str, headers: dict[str, str]) -> dict[str, Any]:
    try:
        return httpx.get(f"{url}/health", headers=headers, timeout=10).json()["queue"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return {"batches": 0, "served": 0}


def _check_args(args: argparse.Namespace) -> None:
    if args.spawn_tiny == (args.url is not None):
        raise ValueError("give exactly one of --url (with --model) or --spawn-tiny")
    if args.url is not None and not args.model:
        raise ValueError("--url needs --model (the id the server lists in /v1/models)")
    if args.url is not None and not is_loopback_url(args.url):
        raise ValueError(
            f"{args.url} is not a loopback address; this tool only loads local servers"
        )
    if not (1 <= args.agents <= 64 and 1 <= args.requests <= 200):
        raise ValueError("--agents must be 1..64 and --requests 1..200")
    if not (1 <= args.max_tokens <= 512 and 0 < args.max_seconds <= 3600):
        raise ValueError("--max-tokens must be 1..512 and --max-seconds 0..3600")
    if args.soak is not None and not 0 < args.soak <= 3600:
        raise ValueError("--soak must be 0..3600 seconds")


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", help="a running server on loopback, e.g. http://127.0.0.1:8000")
    parser.add_argument("--model", help="the model id the server serves (with --url)")
    parser.add_argument("--api-key", help="the server's key, if it has one")
    parser.add_argument("--spawn-tiny", action="store_true", help="start a tiny-model server")
    parser.add_argument("--agents", type=int, default=4, help="concurrent agents (4)")
    parser.add_argument("--requests", type=int, default=6, help="requests per agent (6)")
    parser.add_argument("--max-tokens", type=int, default=8, help="per answer (8)")
    parser.add_argument("--max-seconds", type=float, default=600, help="wall-time bound (600)")
    parser.add_argument("--image-size", type=_size, help="resize screenshots to WxH first")
    parser.add_argument(
        "--max-concurrency", type=int, default=4, help="--spawn-tiny server's batch size (4)"
    )
    parser.add_argument(
        "--soak", type=float, metavar="SECONDS", help="a mixed soak of good and bad requests"
    )
    parser.add_argument("--pid", type=int, help="the --url server's process id, for its RSS")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
