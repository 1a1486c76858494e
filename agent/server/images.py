"""Image URLs of a request → decoded RGB images, within the server's limits, or an `ApiError`.

Two kinds of URL are read: `data:image/...;base64,...` (what OpenAI clients send) and, only when
the server was started with a folder for them, `file://` paths inside that folder. The server
never fetches http(s) URLs: it would make the server a proxy into whatever network it sits on.
Sizes are checked before the work they bound: the base64 length before decoding it, the file
size before reading it, the pixel count of each image and of all of them (from the headers)
before decompressing the pixels. A `file://` path outside the folder gets one answer whether or
not it exists.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from urllib.parse import unquote, urlsplit

from PIL import Image, UnidentifiedImageError

from agent.errors import UNREADABLE_IMAGE
from agent.server.errors import ApiError
from agent.server.settings import ServerSettings

__all__ = ["decode_image_url", "decode_images"]


def decode_images(urls: list[str], settings: ServerSettings) -> list[Image.Image]:
    """Every URL decoded, in order; the first bad one raises, naming its position.

    All the images together may hold `settings.max_batch_pixels` (413 beyond, before the
    image that would pass it is decompressed).
    """
    images, pixels = [], 0
    for index, url in enumerate(urls):
        try:
            image = decode_image_url(url, settings, room=settings.max_batch_pixels - pixels)
        except ApiError as error:
            error.message = f"image {index + 1}: {error.message}"
            raise
        images.append(image)
        pixels += image.width * image.height
    return images


def decode_image_url(url: str, settings: ServerSettings, room: int | None = None) -> Image.Image:
    """The RGB image a data: or (allowed) file: URL holds; `room`: pixels the request has left."""
    if url.startswith("data:"):
        data = _data_url_bytes(url, settings.max_image_bytes)
    elif url.startswith("file:"):
        data = _file_url_bytes(url, settings)
    else:
        scheme = url.split(":", 1)[0] if ":" in url else url[:16]
        raise ApiError(
            400,
            f"image URLs must be data: URLs (base64), not {scheme!r}; this server fetches "
            "nothing from the network",
            "invalid_image_url",
        )
    return _decode(data, settings.max_image_pixels, room, settings.max_batch_pixels)


def _data_url_bytes(url: str, max_bytes: int) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma:
        raise ApiError(400, "malformed data URL: no ',' after the header", "invalid_image_url")
    media_type, *params = header[len("data:") :].split(";")
    if "base64" not in params:
        raise ApiError(400, "data URLs must be base64-encoded (';base64,')", "invalid_image_url")
    if not media_type.startswith("image/"):
        raise ApiError(
            400, f"data URL media type must be image/*, got {media_type!r}", "invalid_image_url"
        )
    if len(payload) // 4 * 3 > max_bytes:
        raise ApiError(413, _too_big(len(payload) // 4 * 3, max_bytes), "image_too_large")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiError(400, f"invalid base64 in data URL ({error})", "invalid_image") from None


def _file_url_bytes(url: str, settings: ServerSettings) -> bytes:
    if settings.file_root is None:
        raise ApiError(
            403,
            "file: URLs are not allowed on this server (start it with --allow-file-urls DIR)",
            "file_urls_disabled",
        )
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise ApiError(400, "file URLs must look like file:///absolute/path", "invalid_image_url")
    root = settings.file_root.resolve()
    try:  # where the path leads (symlinks followed as far as they exist), checked first
        path = Path(unquote(parts.path)).resolve()
    except (OSError, RuntimeError, ValueError):
        path = None
    if path is None or not path.is_relative_to(root):  # one answer, existing or not
        raise ApiError(403, f"file URLs must point inside {root}", "file_url_outside_root")
    try:
        if not path.exists():
            raise ApiError(400, f"no such file: {parts.path}", "invalid_image_url")
        if not path.is_file():
            raise ApiError(400, f"not a file: {parts.path}", "invalid_image_url")
        size = path.stat().st_size
        if size > settings.max_image_bytes:
            raise ApiError(413, _too_big(size, settings.max_image_bytes), "image_too_large")
        return path.read_bytes()
    except OSError as error:
        raise ApiError(
            400, f"cannot read {parts.path} ({error.strerror})", "invalid_image_url"
        ) from None


def _decode(data: bytes, max_pixels: int, room: int | None, max_batch: int) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ApiError(
                    413,
                    f"image of {width}x{height} pixels; this server takes at most {max_pixels} "
                    "pixels per image",
                    "image_too_large",
                )
            if room is not None and width * height > room:
                raise ApiError(
                    413,
                    f"image of {width}x{height} pixels passes the request's pixel budget: this "
                    f"server takes at most {max_batch} pixels of images per request",
                    "too_many_pixels",
                )
            image.load()  # decode every pixel now: a truncated file fails here
            return image.convert("RGB")
    except UnidentifiedImageError:
        raise ApiError(400, "not an image in a format this server reads", "invalid_image") from None
    except Image.DecompressionBombError as error:
        raise ApiError(413, f"image too large ({error})", "image_too_large") from None
    except UNREADABLE_IMAGE as error:
        raise ApiError(400, f"not a readable image ({error})", "invalid_image") from None


def _too_big(size: int, limit: int) -> str:
    return f"image of {size} bytes; this server takes at most {limit} bytes per image"
