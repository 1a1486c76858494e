"""PIL images to Qt, and the heatmap composited over a screenshot, for every window of `ui/`.

One conversion so the overlay, the app and the viewer show the same pixels the agent recorded.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PyQt6.QtGui import QImage, QPixmap

from pixelprune import Selection
from pixelprune.heatmap import overlay_heatmap, render_heatmap

__all__ = ["heatmap_over", "to_pixmap", "to_qimage"]


def to_qimage(image: Image.Image) -> QImage:
    """A deep-copied QImage (Qt must not keep pointing into a numpy buffer that goes away)."""
    rgba = np.ascontiguousarray(np.asarray(image.convert("RGBA")))
    height, width = rgba.shape[:2]
    data = rgba.tobytes()  # alive until the deep copy below is made
    shallow = QImage(data, width, height, 4 * width, QImage.Format.Format_RGBA8888)
    return shallow.copy()


def to_pixmap(image: Image.Image) -> QPixmap:
    return QPixmap.fromImage(to_qimage(image))


def heatmap_over(
    screenshot: Image.Image, selection: Selection, *, grid: bool = False
) -> Image.Image:
    """The screenshot with its kept cells tinted, cells mapped to the screenshot's own size."""
    return overlay_heatmap(
        screenshot.convert("RGB"), render_heatmap(selection, screenshot.size, grid=grid)
    )
