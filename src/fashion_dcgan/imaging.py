"""Image grids, PNG files and GIFs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from fashion_dcgan.files import atomic_path


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1], shape (N, H, W) or (N, H, W, 1) -> uint8 (N, H, W)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images[..., 0]
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2, scale: int = 3) -> np.ndarray:
    """Tile uint8 images (N, H, W) into one (rows*H, cols*W) image with a white gutter, upscaled."""
    count, height, width = images.shape
    cols = cols or math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    canvas = np.full((rows * (height + pad) + pad, cols * (width + pad) + pad), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        canvas[top : top + height, left : left + width] = image
    return np.kron(canvas, np.ones((scale, scale), np.uint8)) if scale > 1 else canvas


def label_rows(grid: np.ndarray, names: Sequence[str], margin: int = 90) -> np.ndarray:
    """``grid`` (uint8, equal rows) with each row's name written in a white margin on its left."""
    from PIL import ImageDraw, ImageFont

    height, width = grid.shape
    canvas = Image.new("L", (width + margin, height), 255)
    canvas.paste(Image.fromarray(grid), (margin, 0))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    row = height / len(names)
    for i, name in enumerate(names):
        draw.text((4, (i + 0.5) * row), name, fill=0, font=font, anchor="lm")
    return np.asarray(canvas)


def save_png(path: str | Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def save_gif(path: str | Path, frames: Sequence[np.ndarray], frame_seconds: float) -> None:
    """An animated GIF that loops forever, one frame per array (all the same shape)."""
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=frame_seconds * 1000, loop=0)
