"""Safe image files: a cheap check of each file's bytes, and loading that converts odd modes.

`check_image` reads a file's first and last bytes (no decoding) and only decodes files that
look cut short; `load_image` converts CMYK, 16-bit, palette and alpha images to RGB or L.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
SIGNATURES = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF8",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF",
)
SIGNATURES += tuple(b"P%d" % i for i in range(1, 7))  # netpbm
# The last bytes of complete files; a file without them is decoded once to make sure.
END_MARKERS = {b"\xff\xd8\xff": b"\xff\xd9", b"\x89PNG\r\n\x1a\n": b"IEND\xaeB`\x82"}
TAIL_BYTES = 1024
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
ALPHA_BACKGROUND = (255, 255, 255, 255)  # transparent pixels become white
MAX_PIXELS = 40_000_000  # ~6,300 x 6,300: larger files (decompression bombs too) are skipped


class BadImageError(OSError):
    """An image file that cannot be decoded."""


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def check_image(path: Path, max_pixels: int = MAX_PIXELS) -> str | None:
    """Why `path` cannot be used ("empty file", "not an image", "too large", "truncated or
    corrupt"), or None. Only the header is parsed unless the file looks cut short."""
    try:
        size = path.stat().st_size
        if size == 0:
            return "empty file"
        with path.open("rb") as f:
            head = f.read(16)
            f.seek(max(size - TAIL_BYTES, 0))
            tail = f.read()
    except OSError:
        return "unreadable"
    signature = next((s for s in SIGNATURES if head.startswith(s)), None)
    if signature is None or (signature == b"RIFF" and head[8:12] != b"WEBP"):
        return "not an image"
    too_large = _too_large(path, max_pixels)
    if too_large:
        return too_large
    end = END_MARKERS.get(signature)
    if end is None or end in tail:
        return None
    try:
        load_image(path, channels=3, max_pixels=max_pixels)
    except BadImageError:
        return "truncated or corrupt"
    return None


def _too_large(path: Path, max_pixels: int) -> str | None:
    """ "too large (W x H px)" when the header announces more than `max_pixels`, else None."""
    try:
        with warnings.catch_warnings():  # PIL's bomb warning: this check is the answer to it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Exception:  # an unreadable header: left to the decode check
        return None
    return f"too large ({width} x {height} px)" if width * height > max_pixels else None


def to_channels(image: Image.Image, channels: int) -> Image.Image:
    """RGB (channels=3) or L (1): 16-bit scaled to 8 bits, alpha over white, CMYK/P converted."""
    if image.mode in SIXTEEN_BIT_MODES:
        scaled = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(scaled.clip(0, 255).round().astype(np.uint8), "L")
    elif image.mode == "F":
        image = Image.fromarray(np.asarray(image).clip(0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, ALPHA_BACKGROUND), rgba)
    target = "L" if channels == 1 else "RGB"
    return image if image.mode == target else image.convert(target)


def load_image(path: Path, channels: int, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Decode `path` into uint8 (channels, H, W), upright per EXIF; BadImageError if impossible
    or larger than `max_pixels` (checked from the header, before decoding)."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise ValueError(f"{image.width} x {image.height} px is over {max_pixels} pixels")
            image.load()
            image = to_channels(ImageOps.exif_transpose(image), channels)
    except Exception as err:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        raise BadImageError(f"{path}: {err}") from err
    array = np.array(image, dtype=np.uint8)
    return torch.from_numpy(array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy())
