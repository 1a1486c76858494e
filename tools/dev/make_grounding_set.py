"""Render a small click-grounding set from local HTML pages, in the ScreenSpot-v2 layout.

    python -m tools.dev.make_grounding_set                      # → tests/data/grounding (v2)
    python -m tools.dev.make_grounding_set --layout pro --out DIR

Pages mark targets with `data-instruction` and `data-type` (text or icon). Boxes come from the
captured page instance (docs/grounding.md); a set whose boxes fail `check_alignment` against the
pixels is not written. Entries add `boxed` (visible border or fill) to the format's fields: the
alignment check uses it, readers ignore it.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tools.dev.make_screenshots import CHROMIUM_FLAGS
from tools.processes import stop_processes

__all__ = ["PAGES", "SIZES", "Target", "check_alignment", "main", "render_pages"]

SIZES = ((1280, 800), (1920, 1080))
INK = 40  # a channel differing by more than this from the background is drawn content
RING = 3  # pixels around a box in which the background is measured
SLACK = 2  # pixels a box edge may be off its ink (fractional layout, antialiased corners)


@dataclass(frozen=True)
class Target:
    """One element to click, as rendered: its box in screenshot pixels (x2, y2 exclusive)."""

    instruction: str
    element: str  # "text" or "icon"
    box: tuple[int, int, int, int]
    boxed: bool  # has a visible border or fill, so its ink reaches all four box edges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, help="where to write the set (default for v2: tests/data/grounding)"
    )
    parser.add_argument("--layout", choices=["v2", "pro"], default="v2")
    args = parser.parse_args(argv)
    if args.out is None:
        if args.layout == "pro":  # beside the committed v2 files it would change their layout
            parser.error("--layout pro needs --out")
        args.out = Path(__file__).resolve().parents[2] / "tests" / "data" / "grounding"
    try:
        shots = list(render_pages(PAGES, SIZES))
    except RenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    problems = [
        f"{name} {image.width}x{image.height}: {target.instruction!r}: {problem}"
        for name, image, targets in shots
        for target in targets
        if (problem := check_alignment(image, target))
    ]
    if problems:
        print("boxes do not match the rendering:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    write = write_pro if args.layout == "pro" else write_v2
    count = write(args.out, shots)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{count} samples on {len(shots)} screenshots in {args.out} ({size / 1e6:.2f} MB)")
    return 0


def check_alignment(image: Image.Image, target: Target) -> str | None:
    """What is wrong with the target's box on this screenshot, or None when it fits.

    The background is the most common colour in a ring of `RING` pixels around the box; ink is
    whatever differs from it by more than `INK` in some channel, within the box and the ring.
    All ink must lie inside the box (within `SLACK`), there must be some, and for a `boxed`
    element (a border or fill) the ink must also reach every edge of the box.
    """
    width, height = image.size
    x1, y1, x2, y2 = target.box
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        return f"box {target.box} is not inside the {width}x{height} image"
    left, top = max(x1 - RING, 0), max(y1 - RING, 0)
    right, bottom = min(x2 + RING, width), min(y2 + RING, height)
    window = np.asarray(image.crop((left, top, right, bottom)).convert("RGB"), dtype=np.int16)
    ring = np.ones(window.shape[:2], dtype=bool)
    ring[y1 - top : y2 - top, x1 - left : x2 - left] = False
    if not ring.any():
        return "the box fills the whole image"
    colours, counts = np.unique(window[ring].reshape(-1, 3), axis=0, return_counts=True)
    background = colours[counts.argmax()]
    ink = (np.abs(window - background) > INK).any(axis=2)
    ys, xs = np.nonzero(ink)
    if len(xs) == 0:
        return "nothing is drawn in the box"
    ink_box = (xs.min() + left, ys.min() + top, xs.max() + left + 1, ys.max() + top + 1)
    outside = (
        ink_box[0] < x1 - SLACK
        or ink_box[1] < y1 - SLACK
        or ink_box[2] > x2 + SLACK
        or ink_box[3] > y2 + SLACK
    )
    if outside:
        return f"drawn content {ink_box} spills out of the box {target.box}"
    if target.boxed and max(abs(a - b) for a, b in zip(ink_box, target.box, strict=True)) > SLACK:
        return f"the element's border or fill {ink_box} does not fill the box {target.box}"
    return None


class RenderError(RuntimeError):
    """Chromium is missing, did not answer, or rendered something other than asked."""


def render_pages(
    pages: dict[str, str], sizes: tuple[tuple[int, int], ...]
) -> Iterator[tuple[str, Image.Image, list[Target]]]:
    """(page name, screenshot, targets) for every page at every size, in one browser."""
    with tempfile.TemporaryDirectory(prefix="grounding-pages-") as folder, _chromium() as browser:
        for name, html in pages.items():
            path = Path(folder) / f"{name}.html"
            path.write_text(html, encoding="utf-8")
            for size in sizes:
                image, targets = browser.render(path.as_uri(), size)
                yield name, image, targets


def write_v2(out: Path, shots: list[tuple[str, Image.Image, list[Target]]]) -> int:
    """The ScreenSpot-v2 layout: `screenspot_web_v2.json` with [x, y, w, h] boxes."""
    entries: list[dict[str, Any]] = []
    for name, filename, _, target in _saved(out / "screenspotv2_image", shots):
        x1, y1, x2, y2 = target.box
        entries.append(
            {
                "img_filename": filename,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "instruction": target.instruction,
                "data_type": target.element,
                "data_source": name,
                "boxed": target.boxed,
            }
        )
    _write_json(out / "screenspot_web_v2.json", entries)
    return len(entries)


def write_pro(out: Path, shots: list[tuple[str, Image.Image, list[Target]]]) -> int:
    """The ScreenSpot-Pro layout: `annotations/web.json` with [x1, y1, x2, y2] boxes."""
    entries: list[dict[str, Any]] = []
    for name, filename, image, target in _saved(out / "images" / "web", shots):
        entries.append(
            {
                "id": f"web_{len(entries)}",
                "img_filename": f"web/{filename}",
                "bbox": list(target.box),
                "instruction": target.instruction,
                "application": name,
                "platform": "web",
                "img_size": [image.width, image.height],
                "ui_type": target.element,
                "group": "Web",
                "boxed": target.boxed,
            }
        )
    _write_json(out / "annotations" / "web.json", entries)
    return len(entries)


def _saved(
    folder: Path, shots: list[tuple[str, Image.Image, list[Target]]]
) -> Iterator[tuple[str, str, Image.Image, Target]]:
    """Each screenshot saved into `folder` once; then (name, file name, image, target) for each
    of its targets, for either layout's entries."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, image, targets in shots:
        filename = f"{name}-{image.width}x{image.height}.png"
        image.save(folder / filename, optimize=True)
        for target in targets:
            yield name, filename, image, target


def _write_json(path: Path, entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")


# Run in the rendered page: every target's box, its kind, and whether it has a border or fill.
COLLECT = """
document.fonts.ready.then(() => JSON.stringify({
  width: innerWidth,
  height: innerHeight,
  scale: devicePixelRatio,
  targets: [...document.querySelectorAll('[data-instruction]')].map(e => {
    const r = e.getBoundingClientRect();
    const s = getComputedStyle(e);
    const fill = s.backgroundColor !== 'rgba(0, 0, 0, 0)' && s.backgroundColor !== 'transparent';
    return {
      instruction: e.dataset.instruction,
      element: e.dataset.type,
      rect: [r.left, r.top, r.right, r.bottom],
      boxed: fill || parseFloat(s.borderTopWidth) > 0,
    };
  }),
}))
"""


class _Browser:
    """One headless Chromium spoken to over the DevTools pipe (fd 3 in, fd 4 out)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self._process = process
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self._call("Page.enable", session=self._session)

    def render(self, url: str, size: tuple[int, int]) -> tuple[Image.Image, list[Target]]:
        """Lay the page out at `size` (scale 1), then read its boxes and screenshot it."""
        width, height = size
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self._call("Emulation.setDeviceMetricsOverride", metrics, session=self._session)
        self._events.clear()
        self._call("Page.navigate", {"url": url}, session=self._session)
        self._wait_for("Page.loadEventFired")
        evaluation = {"expression": COLLECT, "awaitPromise": True, "returnByValue": True}
        result = self._call("Runtime.evaluate", evaluation, session=self._session)
        layout = json.loads(result["result"]["value"])
        if (layout["width"], layout["height"], layout["scale"]) != (width, height, 1):
            raise RenderError(
                f"{url} laid out at {layout['width']}x{layout['height']} scale {layout['scale']}, "
                f"not {width}x{height} scale 1"
            )
        shot = self._call("Page.captureScreenshot", {"format": "png"}, session=self._session)
        image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
        if image.size != size:
            raise RenderError(f"{url}: screenshot is {image.size}, not {size}")
        targets = []
        for item in layout["targets"]:
            left, top, right, bottom = item["rect"]
            box = (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom))
            if not (0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height):
                raise RenderError(
                    f"{url} at {width}x{height}: {item['instruction']!r} is off screen"
                )
            if item["element"] not in ("text", "icon"):
                raise RenderError(
                    f"{url}: {item['instruction']!r} has data-type {item['element']!r}"
                )
            targets.append(Target(item["instruction"], item["element"], box, item["boxed"]))
        return image, targets

    def close(self) -> None:
        with suppress(RenderError):
            self._call("Browser.close")

    def _call(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        pipe = self._process.stdin
        if pipe is None:  # started with stdin=PIPE
            raise RenderError("chromium has no input pipe")
        try:
            pipe.write(json.dumps(message).encode() + b"\0")
            pipe.flush()
        except BrokenPipeError as error:
            raise RenderError(f"chromium exited before {method}") from error
        while True:
            reply = self._read()
            if reply.get("id") != self._next_id:
                self._events.append(reply)
                continue
            if "error" in reply:
                raise RenderError(f"chromium refused {method}: {reply['error']}")
            return reply["result"]

    def _wait_for(self, event: str) -> None:
        while not any(e.get("method") == event for e in self._events):
            self._events.append(self._read())

    def _read(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        if self._process.stdout is None:  # started with stdout=PIPE
            raise RenderError("chromium has no output pipe")
        stream = self._process.stdout.fileno()
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([stream], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise RenderError(f"chromium did not answer within {timeout:g} s")
            chunk = os.read(stream, 1 << 20)
            if not chunk:
                raise RenderError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


@contextmanager
def _chromium() -> Iterator[_Browser]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RenderError("chromium is not installed; run tools/install.sh")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [
            browser,
            *CHROMIUM_FLAGS,
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # the shell hands our stdin/stdout pipes to Chromium as the fds 3 and 4 it talks on
        process = subprocess.Popen(
            ["sh", "-c", 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null', "sh", *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        browser_session = None
        try:
            browser_session = _Browser(process)
            yield browser_session
        finally:
            if browser_session is not None:
                browser_session.close()
            stop_processes([process], None)


# ---- the pages -------------------------------------------------------------------------------

STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 'DejaVu Sans', sans-serif; color: #1f2933; background: #f3f4f6; }
button { font: inherit; cursor: pointer; }
.btn { padding: 8px 16px; border: 1px solid #9aa5b1; border-radius: 6px; background: #ffffff;
       color: #1f2933; }
.primary { background: #2563eb; border-color: #1d4ed8; color: #ffffff; }
.danger { background: #dc2626; border-color: #b91c1c; color: #ffffff; }
.icon-btn { width: 36px; height: 36px; padding: 0; border: 1px solid #9aa5b1; border-radius: 6px;
            background: #ffffff; display: inline-flex; align-items: center;
            justify-content: center; }
.link { display: inline-block; padding: 4px 6px; color: #1d4ed8; text-decoration: underline; }
input.field { display: block; width: 100%; padding: 9px 10px; border: 1px solid #7b8794;
              border-radius: 4px; background: #ffffff; font: inherit; }
input.check { appearance: none; width: 20px; height: 20px; margin: 0; border: 2px solid #3e4c59;
              border-radius: 4px; background: #ffffff; vertical-align: middle; }
input.check:checked { background: #2563eb; border-color: #1d4ed8; }
.switch { display: inline-block; width: 46px; height: 26px; border-radius: 13px;
          background: #9aa5b1; position: relative; }
.switch::after { content: ''; position: absolute; top: 3px; left: 3px; width: 20px;
                 height: 20px; border-radius: 10px; background: #ffffff; }
.switch.on { background: #2563eb; }
.switch.on::after { left: 23px; }
svg { display: block; }
"""


def _svg(paths: str, size: int = 20) -> str:
    return (
        f'<svg width="{size}" height="{size}" viewBox="0 0 24 24" fill="none" stroke="#1f2933" '
        f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{paths}</svg>'
    )


ICONS = {
    "undo": _svg('<path d="M9 14 4 9l5-5"/><path d="M4 9h11a5 5 0 0 1 0 10h-3"/>'),
    "redo": _svg('<path d="m15 14 5-5-5-5"/><path d="M20 9H9a5 5 0 0 0 0 10h3"/>'),
    "bold": _svg('<path d="M7 4h6a4 4 0 0 1 0 8H7z"/><path d="M7 12h7a4 4 0 0 1 0 8H7z"/>'),
    "italic": _svg('<path d="M19 4h-9M14 20H5M15 4 9 20"/>'),
    "list": _svg(
        '<path d="M9 6h11M9 12h11M9 18h11"/><circle cx="4" cy="6" r="1"/>'
        '<circle cx="4" cy="12" r="1"/><circle cx="4" cy="18" r="1"/>'
    ),
    "image": _svg(
        '<rect x="3" y="3" width="18" height="18" rx="2"/><circle cx="9" cy="9" r="2"/>'
        '<path d="m21 15-5-5L5 21"/>'
    ),
    "link": _svg(
        '<path d="M10 13a5 5 0 0 0 7 0l3-3a5 5 0 0 0-7-7l-1 1"/>'
        '<path d="M14 11a5 5 0 0 0-7 0l-3 3a5 5 0 0 0 7 7l1-1"/>'
    ),
    "search": _svg('<circle cx="11" cy="11" r="7"/><path d="m21 21-5-5"/>'),
    "gear": _svg(
        '<circle cx="12" cy="12" r="3"/><path d="M12 2v3M12 19v3M2 12h3M19 12h3'
        'M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1 7 17M17 7l2.1-2.1"/>'
    ),
    "trash": _svg('<path d="M3 6h18M8 6V4h8v2M6 6l1 14h10l1-14"/>'),
    "back": _svg('<path d="M19 12H5M12 19l-7-7 7-7"/>'),
    "bell": _svg(
        '<path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/>'
        '<path d="M13.7 21a2 2 0 0 1-3.4 0"/>'
    ),
    "sort": _svg('<path d="m7 15 5 5 5-5M7 9l5-5 5 5"/>', 16),
}


def _page(title: str, body: str, style: str = "") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}{style}</style></head><body>{body}</body></html>"
    )


FORM = _page(
    "Create account",
    """
<header class="top"><b class="logo">Acme Cloud</b>
  <nav><a class="link" href="#">Pricing</a><a class="link" href="#">Docs</a>
  <a class="link" href="#" data-instruction="click the Sign in link" data-type="text">Sign in</a>
  </nav></header>
<main class="card">
  <h1>Create your account</h1>
  <label>Full name<input class="field" value="Ada Lovelace"></label>
  <label>Email address<input class="field" placeholder="you@example.com"
    data-instruction="click the email address field" data-type="icon"></label>
  <label>Password<input class="field" type="password" value="secret-passphrase"></label>
  <p class="opt"><input class="check" type="checkbox" data-type="icon"
    data-instruction="tick the box to receive product updates">
    <span>Send me product updates</span></p>
  <p class="opt"><input class="check" type="checkbox" checked><span>I agree to the terms</span></p>
  <div class="actions">
    <button class="btn" data-instruction="click the Cancel button" data-type="text">Cancel</button>
    <button class="btn primary" data-instruction="click the Create account button"
      data-type="text">Create account</button>
  </div>
  <p><a class="link" href="#" data-instruction="click Forgot password?"
    data-type="text">Forgot password?</a></p>
</main>
""",
    """
.top { display: flex; justify-content: space-between; align-items: center; padding: 10px 4%;
       background: #ffffff; border-bottom: 1px solid #d2d6dc; }
.logo { font-size: 19px; } nav .link { margin-left: 18px; }
.card { width: 38%; min-width: 440px; margin: 36px auto; padding: 26px 34px; background: #fff;
        border: 1px solid #d2d6dc; border-radius: 10px; }
.card h1 { margin: 0 0 18px; font-size: 24px; }
.card label { display: block; margin-bottom: 16px; color: #3e4c59; }
.card label .field { margin-top: 6px; }
.opt { display: flex; align-items: center; gap: 12px; margin: 12px 0; }
.actions { display: flex; justify-content: flex-end; gap: 14px; margin-top: 22px; }
""",
)

TOOLBAR = _page(
    "Editor",
    f"""
<div class="menubar">
  <span class="menu">File</span>
  <span class="menu" data-instruction="open the Edit menu" data-type="text">Edit</span>
  <span class="menu">View</span><span class="menu">Insert</span>
  <span class="menu">Help</span>
  <button class="btn primary share" data-instruction="click Share"
    data-type="text">Share</button>
</div>
<div class="toolbar">
  <button class="icon-btn" data-instruction="undo the last change" data-type="icon">
    {ICONS["undo"]}</button>
  <button class="icon-btn">{ICONS["redo"]}</button><span class="sep"></span>
  <button class="icon-btn" data-instruction="make the text bold" data-type="icon">
    {ICONS["bold"]}</button>
  <button class="icon-btn">{ICONS["italic"]}</button>
  <button class="icon-btn">{ICONS["list"]}</button><span class="sep"></span>
  <button class="icon-btn" data-instruction="insert an image" data-type="icon">
    {ICONS["image"]}</button>
  <button class="icon-btn">{ICONS["link"]}</button><span class="grow"></span>
  <button class="icon-btn">{ICONS["search"]}</button>
  <button class="icon-btn" data-instruction="open the editor settings" data-type="icon">
    {ICONS["gear"]}</button>
</div>
<article class="doc">
  <h2>Quarterly planning notes</h2>
  <p>The team agreed to ship the export feature before the end of the quarter. Design reviews
  happen every Tuesday; bring screenshots of the current state and the open questions.</p>
  <p>Open items: pagination in the reports view, keyboard shortcuts for the editor, and the
  accessibility audit of the settings dialog. Each item has an owner in the tracker.</p>
  <p>Budget: unchanged. Hiring: one designer, one backend engineer.</p>
</article>
""",
    """
.menubar { display: flex; align-items: center; padding: 6px 12px; background: #e4e7eb;
           border-bottom: 1px solid #cbd2d9; }
.menu { padding: 6px 12px; } .share { margin-left: auto; }
.toolbar { display: flex; align-items: center; gap: 10px; padding: 10px 16px;
           background: #f5f7fa; border-bottom: 1px solid #cbd2d9; }
.sep { width: 1px; height: 26px; background: #cbd2d9; margin: 0 6px; } .grow { flex: 1; }
.doc { width: 62%; margin: 30px auto; padding: 36px 48px; background: #fff;
       border: 1px solid #d2d6dc; }
.doc h2 { margin-top: 0; }
""",
)

SETTINGS = _page(
    "Settings",
    f"""
<aside class="side">
  <button class="icon-btn back" data-instruction="go back" data-type="icon">{ICONS["back"]}</button>
  <span class="nav">General</span><span class="nav active">Network</span>
  <span class="nav">Display</span>
  <span class="nav" data-instruction="open the Privacy section" data-type="text">Privacy</span>
  <span class="nav">About</span>
</aside>
<main class="panel">
  <h1>Network</h1>
  <div class="row"><div><b>Wi-Fi</b><small>Connected to Office-5G</small></div>
    <span class="switch on" data-instruction="turn off Wi-Fi" data-type="icon"></span></div>
  <div class="row"><div><b>Bluetooth</b><small>Off</small></div>
    <span class="switch"></span></div>
  <div class="row"><div><b>Airplane mode</b><small>Turns off all wireless connections</small>
    </div><span class="switch" data-instruction="turn on airplane mode" data-type="icon"></span>
  </div>
  <div class="row"><div><b>Proxy</b><small>Manual: 10.0.0.8:3128</small></div>
    <button class="btn" data-instruction="change the proxy settings"
      data-type="text">Change</button></div>
  <div class="row"><div><b>Notifications</b><small>Alert when a network is found</small></div>
    <span class="bell">{ICONS["bell"]}</span></div>
  <p class="foot"><button class="btn danger" data-instruction="reset the network settings"
    data-type="text">Reset to defaults</button></p>
</main>
""",
    """
body { display: flex; min-height: 100vh; }
.side { width: 22%; min-width: 220px; padding: 18px 14px; background: #1f2933;
        display: flex; flex-direction: column; gap: 6px; }
.side .nav { padding: 8px 12px; color: #e4e7eb; border-radius: 6px; }
.side .active { background: #3e4c59; } .back { margin-bottom: 14px; }
.panel { flex: 1; padding: 24px 5%; }
.panel h1 { margin: 0 0 16px; font-size: 24px; }
.row { display: flex; justify-content: space-between; align-items: center; padding: 14px 18px;
       margin-bottom: 10px; background: #fff; border: 1px solid #d2d6dc; border-radius: 8px; }
.row b { display: block; } .row small { color: #616e7c; }
.foot { margin-top: 24px; }
""",
)

ROWS = [
    ("#1038", "Jon Park", "2025-03-02", "$120.00", "Paid"),
    ("#1039", "Maria Lopez", "2025-03-03", "$89.50", "Pending"),
    ("#1040", "Wei Chen", "2025-03-03", "$410.00", "Paid"),
    ("#1041", "Amara Okafor", "2025-03-04", "$15.99", "Refunded"),
    ("#1042", "Lars Nilsen", "2025-03-05", "$230.40", "Paid"),
    ("#1043", "Priya Nair", "2025-03-06", "$64.00", "Pending"),
]


def _row(order: str, name: str, date: str, total: str, status: str) -> str:
    check = (
        'data-instruction="select the order of Jon Park" data-type="icon"'
        if name == "Jon Park"
        else ""
    )
    edit = (
        'data-instruction="edit the order of Maria Lopez" data-type="text"'
        if name == "Maria Lopez"
        else ""
    )
    delete = f'data-instruction="delete order {order}" data-type="icon"' if order == "#1042" else ""
    return (
        f'<tr><td><input class="check" type="checkbox" {check}></td><td>{order}</td>'
        f"<td>{name}</td><td>{date}</td><td>{total}</td><td>{status}</td>"
        f'<td><div class="acts"><button class="btn small" {edit}>Edit</button>'
        f'<button class="icon-btn small" {delete}>{ICONS["trash"]}</button></div></td></tr>'
    )


TABLE = _page(
    "Orders",
    f"""
<div class="bar"><h1>Orders</h1>
  <input class="field search" placeholder="Search orders"
    data-instruction="click the search box" data-type="icon">
  <button class="btn">Export CSV</button>
  <button class="btn primary">New order</button></div>
<table>
  <thead><tr><th></th><th>Order</th><th>Customer</th><th>Date</th>
    <th><span class="th">Total<span class="sorter" data-instruction="sort by total"
      data-type="icon">{ICONS["sort"]}</span></span></th><th>Status</th><th></th></tr></thead>
  <tbody>{"".join(_row(*row) for row in ROWS)}</tbody>
</table>
<div class="pages"><span>Showing 1–6 of 48</span>
  <button class="btn">Previous</button>
  <button class="btn" data-instruction="go to the next page" data-type="text">Next</button></div>
""",
    """
.bar { display: flex; align-items: center; gap: 14px; padding: 16px 3%; background: #fff;
       border-bottom: 1px solid #d2d6dc; }
.bar h1 { margin: 0 auto 0 0; font-size: 22px; } input.search { width: 280px; }
table { width: 94%; margin: 20px 3%; border-collapse: collapse; background: #fff;
        border: 1px solid #d2d6dc; }
th, td { padding: 12px 14px; text-align: left; border-bottom: 1px solid #e4e7eb; }
th { background: #f5f7fa; color: #3e4c59; }
.th { display: inline-flex; align-items: center; gap: 8px; }
.sorter { display: inline-block; padding: 2px; }
.acts { display: flex; gap: 10px; } .btn.small { padding: 4px 12px; }
.icon-btn.small { width: 30px; height: 30px; }
.pages { display: flex; align-items: center; justify-content: flex-end; gap: 12px;
         padding: 0 3%; color: #616e7c; }
""",
)

PAGES = {"form": FORM, "toolbar": TOOLBAR, "settings": SETTINGS, "table": TABLE}


if __name__ == "__main__":
    raise SystemExit(main())
