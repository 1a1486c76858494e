"""Read a click-grounding set in one of the public ScreenSpot layouts, told apart by its files.

    dataset = load_grounding_set("ScreenSpot-v2/")
    dataset.layout, dataset.samples, dataset.skipped

Layouts as published (docs/grounding.md): v1 and v2 boxes are [x, y, w, h], ScreenSpot-Pro's
[x1, y1, x2, y2] with `img_filename` relative to `images/`; every box becomes (x1, y1, x2, y2)
image pixels. An unusable entry (missing field, box enclosing no area, missing or unreadable
image) is listed in `skipped` with its reason and never stops the rest from loading.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

__all__ = [
    "LAYOUTS",
    "GroundingSet",
    "GroundingSetError",
    "Sample",
    "Skipped",
    "load_grounding_set",
]

LAYOUTS = {
    "screenspot": "screenspot_{mobile,desktop,web}.json + screenspot_imgs/",
    "screenspot-v2": "screenspot_{desktop,mobile,web}_v2.json + screenspotv2_image/",
    "screenspot-pro": "annotations/*.json + images/",
}
_V1 = re.compile(r"^screenspot_([a-z]+)\.json$")
_V2 = re.compile(r"^screenspot_([a-z]+)_v2\.json$")


class GroundingSetError(ValueError):
    """The folder is not a grounding set this reader knows, or it cannot be read at all."""


@dataclass(frozen=True)
class Sample:
    """One instruction on one screenshot, with the box a click must land in."""

    id: str  # "<annotation file>#<index>", unique within the set
    image: Path
    size: tuple[int, int]  # (width, height) of the image file
    instruction: str
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels
    platform: str  # v1/v2: mobile, desktop, web (from the file name); Pro: its own field
    element: str  # "text" or "icon" (as the set labels it)
    source: str  # v1/v2: data_source (ios, windows, gitlab, ...); Pro: the application
    group: str | None = None  # Pro only: Dev, Creative, CAD, Scientific, Office, OS


@dataclass(frozen=True)
class Skipped:
    """An entry that was not loaded, and why."""

    where: str  # "<annotation file>#<index>"
    reason: str


@dataclass
class GroundingSet:
    folder: Path
    layout: str
    samples: list[Sample] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def load_grounding_set(folder: str | Path) -> GroundingSet:
    """Every usable sample of the set in `folder`, in file order, and every skipped entry."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GroundingSetError(f"{folder} is not a folder")
    layout, files, images = _detect(folder)
    dataset = GroundingSet(folder, layout)
    for path in files:
        entries = _read_entries(path)
        for index, entry in enumerate(entries):
            where = f"{path.relative_to(folder)}#{index}"
            try:
                dataset.samples.append(_READERS[layout](entry, where, path, images))
            except _BadEntry as error:
                dataset.skipped.append(Skipped(where, str(error)))
    return dataset


class _BadEntry(Exception):
    """One entry cannot be used (the message says why)."""


def _detect(folder: Path) -> tuple[str, list[Path], Path]:
    """(layout, annotation files, image folder); names the expected layouts when none fits."""
    annotations = folder / "annotations"
    if annotations.is_dir() and (files := sorted(annotations.glob("*.json"))):
        return "screenspot-pro", files, _image_folder(folder / "images", None)
    if files := sorted(p for p in folder.glob("*.json") if _V2.match(p.name)):
        zipped = folder / "screenspotv2_image.zip"
        return "screenspot-v2", files, _image_folder(folder / "screenspotv2_image", zipped)
    if files := sorted(p for p in folder.glob("*.json") if _V1.match(p.name)):
        return "screenspot", files, _image_folder(folder / "screenspot_imgs", None)
    expected = "; ".join(f"{name}: {files}" for name, files in LAYOUTS.items())
    raise GroundingSetError(f"{folder} holds no known grounding set. Expected one of: {expected}")


def _image_folder(path: Path, zipped: Path | None) -> Path:
    if path.is_dir():
        return path
    hint = f" (unzip {zipped.name} there first)" if zipped is not None and zipped.exists() else ""
    raise GroundingSetError(f"the image folder {path} does not exist{hint}")


def _read_entries(path: Path) -> list[Any]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GroundingSetError(f"cannot read {path}: {error}") from error
    if not isinstance(entries, list):
        raise GroundingSetError(f"{path} must hold a JSON list of entries")
    return entries


def _read_v1(entry: Any, where: str, path: Path, images: Path) -> Sample:
    """A v1 or v2 entry: [x, y, w, h] box; the platform is in the file name."""
    named = _V2.match(path.name) or _V1.match(path.name)
    if named is None:  # the reader lists only files whose names match
        raise GroundingSetError(f"{path.name} names no platform")
    platform = named.group(1)
    x, y, w, h = _box(entry)
    if w <= 0 or h <= 0:
        raise _BadEntry(f"bbox [x, y, w, h] {entry['bbox']} encloses no area")
    return _sample(
        entry,
        where,
        images,
        bbox=(x, y, x + w, y + h),
        platform=platform,
        element=_text(entry, "data_type"),
        source=_text(entry, "data_source"),
    )


def _read_pro(entry: Any, where: str, path: Path, images: Path) -> Sample:
    """A ScreenSpot-Pro entry: [x1, y1, x2, y2] box, platform and application fields."""
    x1, y1, x2, y2 = _box(entry)
    if x2 <= x1 or y2 <= y1:
        raise _BadEntry(f"bbox [x1, y1, x2, y2] {entry['bbox']} encloses no area")
    sample = _sample(
        entry,
        where,
        images,
        bbox=(x1, y1, x2, y2),
        platform=_text(entry, "platform"),
        element=_text(entry, "ui_type"),
        source=_text(entry, "application"),
        group=entry.get("group") if isinstance(entry.get("group"), str) else None,
    )
    stated = entry.get("img_size")  # the box is in these pixels: they must be the file's
    if stated is not None and (not isinstance(stated, list) or tuple(stated) != sample.size):
        width, height = sample.size
        raise _BadEntry(f"img_size {stated!r} differs from the image file's {width}x{height}")
    return sample


_READERS: dict[str, Callable[[Any, str, Path, Path], Sample]] = {
    "screenspot": _read_v1,
    "screenspot-v2": _read_v1,
    "screenspot-pro": _read_pro,
}


def _sample(entry: Any, where: str, images: Path, **fields: Any) -> Sample:
    image = images / _text(entry, "img_filename")
    if not image.is_file():
        raise _BadEntry(f"image {image} does not exist")
    try:
        with Image.open(image) as opened:  # reads the header only
            size = opened.size
    except (OSError, UnidentifiedImageError) as error:
        raise _BadEntry(f"image {image} is not readable: {error}") from error
    return Sample(where, image, size, _text(entry, "instruction"), **fields)


def _box(entry: Any) -> tuple[float, float, float, float]:
    if not isinstance(entry, dict):
        raise _BadEntry(f"entry is a {type(entry).__name__}, not an object")
    box = entry.get("bbox")
    if (
        not isinstance(box, list)
        or len(box) != 4
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in box
        )
    ):
        raise _BadEntry(f"bbox must be a list of four numbers, got {box!r}")
    x, y, w, h = (float(v) for v in box)
    return x, y, w, h


def _text(entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _BadEntry(f"{name} is missing or empty")
    return value
