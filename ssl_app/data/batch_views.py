"""Two views of a whole batch made on the training device, with random parameters per sample.

The ops, settings and distributions of `views.build_view_transform` (both follow `view_ops`),
batched: torch draws every parameter on the images' device, crop + flip is one separable
resample with the antialiased bilinear weights of `F.interpolate`, colour jitter one affine map
per sample (`augment.colour_affine`, batched). No loop over samples and no host-device sync: a
CUDA batch of uint8 images becomes two views in ~160 kernel launches whatever its size, a few
fused ones with `compile` (`scripts/count_ops.py`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ssl_app.data.augment import HUE_PARTS, LUMA, TO_GRAY, RandomResizedCrop
from ssl_app.data.base import DatasetInfo
from ssl_app.data.views import ViewConfig, view_ops

JITTER_STEPS = ("brightness", "contrast", "saturation", "hue")  # the columns of `factors`
NEUTRAL = {"brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "hue": 0.0}
CONTRAST = JITTER_STEPS.index("contrast")
PER_SAMPLE_DRAWS = ("flip", "jitter", "gray", "blur", "sigma", "solarize")  # a uniform each


@dataclass
class ViewParams:
    """Random parameters of one view per sample (row), on the images' device."""

    crop: Tensor  # (B, 4) float: top, left, height, width in source pixels
    flip: Tensor  # (B,) bool
    jitter: Tensor  # (B,) bool
    factors: Tensor  # (B, 4) brightness, contrast, saturation, hue; neutral where inactive
    order: Tensor  # (B, 4) long: the jitter steps (columns of `factors`) in the order they apply
    gray: Tensor  # (B,) bool
    blur: Tensor  # (B,) bool
    sigma: Tensor  # (B,) float
    solarize: Tensor  # (B,) bool


class BatchViews:
    """uint8 (B, C, H, W) images → normalised float (B, C, S, S) views, per-sample random ops.

    `generator` is a torch.Generator on the images' device; None takes that device's global
    RNG, which the training module seeds differently on every rank. `compile`: the ops run
    torch.compile'd, a few fused kernels instead of ~110 launches a batch (the parameters are
    still drawn eagerly, so a seed gives the same views either way).
    """

    def __init__(
        self, image_size: int, info: DatasetInfo, views: ViewConfig, compile: bool = False
    ) -> None:
        self.size, self.info, self.ops = image_size, info, view_ops(image_size, info, views)
        self.run_ops = torch.compile(self.apply, dynamic=False) if compile else self.apply
        ranges = dict(self.ops.jitter.ranges)
        bounds = [ranges.get(name, (NEUTRAL[name],) * 2) for name in JITTER_STEPS]
        self.factor_bounds = tuple(zip(*bounds, strict=True))  # (low, high) per column

    def sample(
        self,
        batch: int,
        height: int,
        width: int,
        device: torch.device | str,
        generator: torch.Generator | None = None,
    ) -> ViewParams:
        """Draw `batch` parameter sets for (height, width) images with torch on `device`."""

        def uniform(*shape: int) -> Tensor:
            return torch.rand(shape, device=device, generator=generator)

        ops = self.ops
        low, high = (_constant(bounds, device) for bounds in self.factor_bounds)
        crop = crop_boxes(ops.crop, uniform(batch, ops.crop.tries, 4), height, width)
        steps, flags = len(JITTER_STEPS), len(PER_SAMPLE_DRAWS)
        draws = uniform(batch, flags + 2 * steps)  # one kernel for all the rest
        u = dict(zip(PER_SAMPLE_DRAWS, draws[:, :flags].unbind(dim=1), strict=True))
        return ViewParams(
            crop=crop,
            flip=u["flip"] < ops.hflip,
            jitter=u["jitter"] < ops.jitter_prob,
            factors=low + (high - low) * draws[:, flags : flags + steps],
            order=draws[:, flags + steps :].argsort(dim=1),
            gray=u["gray"] < ops.grayscale_prob,
            blur=u["blur"] < ops.blur_prob,
            sigma=ops.blur.sigma[0] + (ops.blur.sigma[1] - ops.blur.sigma[0]) * u["sigma"],
            solarize=u["solarize"] < ops.solarize_prob,
        )

    def apply(self, images: Tensor, params: ViewParams) -> Tensor:
        """The views of `images` (uint8, or float in [0, 1]) under `params`.

        Ops that the config leaves out (probability 0) are skipped, whatever `params` says.
        """
        x = resized_crops(images, params.crop, params.flip, self.size)
        if images.dtype == torch.uint8:
            x = x.div_(255)
        ops = self.ops
        if ops.jitter_prob > 0:
            x = colour_jitter(x, params.factors, params.order, params.jitter)
        if ops.grayscale_prob > 0:
            x = torch.where(params.gray[:, None, None, None], grayscale(x), x)
        if ops.blur_prob > 0:
            x = gaussian_blur(x, params.sigma, params.blur, ops.blur.max_radius)
        if ops.solarize_prob > 0:
            x = torch.where(params.solarize[:, None, None, None] & (x >= 0.5), 1 - x, x)
        mean = _constant(self.info.mean, x.device)[:, None, None]
        std = _constant(self.info.std, x.device)[:, None, None]
        return x.sub_(mean).div_(std)

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One random view of each image."""
        batch, _, height, width = images.shape
        return self.run_ops(images, self.sample(batch, height, width, images.device, generator))

    def two_views(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Two independent random views of each image, made in one pass over the doubled batch."""
        first, second = self(images.repeat(2, 1, 1, 1), generator).chunk(2)
        return first, second

    def __repr__(self) -> str:
        return f"BatchViews(size={self.size}, {self.ops})"


def _constant(values: tuple, device: torch.device) -> Tensor:
    """A float32 constant on `device`, copied there once (no host-device copy per batch);
    torch.compile bakes it into the compiled code instead."""
    if torch.compiler.is_compiling():
        return _new_constant(values, device)
    return _cached_constant(values, device)


def _new_constant(values: tuple, device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)


_cached_constant = functools.cache(_new_constant)


def _matrix(array: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """A matrix as nested tuples of floats: hashable, so a `_constant` key."""
    return tuple(tuple(float(v) for v in row) for row in array)


# The fixed matrices of the colour maps as `_constant` keys, built once, not per batch.
TO_GRAY_ROWS = _matrix(TO_GRAY)
HUE_PART_ROWS = tuple(_matrix(part) for part in HUE_PARTS)


def _build_homogeneous_parts(channels: int) -> tuple[tuple, tuple]:
    """(C + 1)² keys: the corner that makes [[L, 0], [0, 0]] homogeneous, and the column that
    adds a pivot to every channel's offset (1 at [c, C], c < C)."""
    corner = np.diag([0.0] * channels + [1.0])
    offsets = np.pad(np.ones((channels, 1)), ((0, 1), (channels, 0)))
    return _matrix(corner), _matrix(offsets)


# Gray and RGB built at import: a dict torch.compile reads as a constant (through a
# functools cache it traces the function and warns).
HOMOGENEOUS_PARTS = {c: _build_homogeneous_parts(c) for c in (1, 3)}


def _homogeneous_parts(channels: int) -> tuple[tuple, tuple]:
    return HOMOGENEOUS_PARTS.get(channels) or _build_homogeneous_parts(channels)


def crop_boxes(crop: RandomResizedCrop, draws: Tensor, height: int, width: int) -> Tensor:
    """(B, 4) boxes from (B, tries, 4) uniforms, as `crop.params` turns the same draws into one.

    The first try that fits, else `crop.fallback`; float64 arithmetic, as Python's floats there.
    """
    area_u, ratio_u, top_u, left_u = draws.double().unbind(-1)
    area = height * width * (crop.scale[0] + (crop.scale[1] - crop.scale[0]) * area_u)
    aspect = torch.exp(crop.log_ratio[0] + (crop.log_ratio[1] - crop.log_ratio[0]) * ratio_u)
    w, h = (area * aspect).sqrt().round(), (area / aspect).sqrt().round()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    top, left = (top_u * (height - h + 1)).floor(), (left_u * (width - w + 1)).floor()
    tries = torch.stack([top, left, h, w], dim=-1).float()
    first = tries[torch.arange(len(tries), device=draws.device), fits.int().argmax(dim=1)]
    fallback = _constant(crop.fallback(height, width), draws.device)
    return torch.where(fits.any(dim=1, keepdim=True), first, fallback)


def resize_weights(start: Tensor, length: Tensor, size: int, extent: int) -> Tensor:
    """(B, size, extent) weights resizing source pixels [start, start + length) to `size`.

    F.interpolate's bilinear antialias filter: a triangle as wide as max(1, scale) source pixels
    either side of each output pixel's centre, cut at the crop's edges and renormalised.
    """
    scale = (length / size)[:, None, None]
    outputs = torch.arange(size, device=start.device)[:, None] + 0.5
    sources = torch.arange(extent, device=start.device) + 0.5
    centres = start[:, None, None] + scale * outputs
    weights = (1 - (sources - centres).abs() / scale.clamp(min=1)).clamp(min=0)
    inside = (sources >= start[:, None, None]) & (sources < (start + length)[:, None, None])
    weights = weights * inside
    return weights / weights.sum(dim=-1, keepdim=True)


def resized_crops(images: Tensor, crop: Tensor, flip: Tensor, size: int) -> Tensor:
    """Each image's crop box resized to size x size (mirrored where `flip`), as float32.

    One separable resample, rows (B, S, H) @ image (B, C, H, W) @ columns (B, W, S): two batched
    matrix products that equal F.interpolate(bilinear, antialias=True) on each crop.
    """
    batch, channels, height, width = images.shape
    top, left, crop_height, crop_width = crop.unbind(dim=1)
    rows = resize_weights(top, crop_height, size, height)
    columns = resize_weights(left, crop_width, size, width)
    columns = torch.where(flip[:, None, None], columns.flip(1), columns)
    x = images.float().reshape(batch, channels * height, width) @ columns.transpose(1, 2)
    return rows[:, None] @ x.view(batch, channels, height, size)


def _step_matrices(factors: Tensor, channels: int) -> Tensor:
    """(B, 4, C + 1, C + 1): each jitter step (the columns of `factors`) per sample, homogeneous
    [[L, 0], [0, 1]]; contrast's shift depends on the image so far (`jitter_affine` adds it)."""
    eye = torch.eye(channels, device=factors.device)
    brightness, contrast, saturation, hue = (f[:, None, None] for f in factors.unbind(dim=1))
    if channels == 1:  # gray sources have no saturation or hue
        identity = eye.expand(len(factors), 1, 1)
        linear = torch.stack([brightness * eye, contrast * eye, identity, identity], dim=1)
    else:
        to_gray = _constant(TO_GRAY_ROWS, factors.device)
        keep, cos_part, sin_part = (_constant(p, factors.device) for p in HUE_PART_ROWS)
        angle = 2 * math.pi * hue
        hue_step = keep + torch.cos(angle) * cos_part + torch.sin(angle) * sin_part
        saturation_step = saturation * eye + (1 - saturation) * to_gray
        linear = torch.stack([brightness * eye, contrast * eye, saturation_step, hue_step], dim=1)
    corner = _constant(_homogeneous_parts(channels)[0], factors.device)
    return F.pad(linear, (0, 1, 0, 1)) + corner


def jitter_affine(factors: Tensor, order: Tensor, mean_pixel: Tensor) -> Tensor:
    """Per-sample (B, C + 1, C + 1) [[M, b], [0, 1]], the (M, b) of `augment.colour_affine`:
    the steps composed in each sample's order, one batched product per position.

    Contrast f pivots on the mean gray of the image as jittered so far, p = luma · (M mean + b):
    x → f x + (1 − f) p, so its step adds (1 − f) p to every channel's offset.
    """
    batch, channels = mean_pixel.shape
    device = mean_pixel.device
    luma = _constant((*(LUMA if channels == 3 else (1.0,)), 0.0), device)
    to_offsets = _constant(_homogeneous_parts(channels)[1], device)
    ordered = _step_matrices(factors, channels).take_along_dim(order[:, :, None, None], dim=1)
    pivot_weight = (1 - factors[:, CONTRAST, None]) * (order == CONTRAST)  # (B, 4)
    mean = F.pad(mean_pixel, (0, 1), value=1.0)[..., None]  # (B, C + 1, 1)
    affine = torch.eye(channels + 1, device=device).expand(batch, -1, -1)
    for position in range(order.shape[1]):
        pivot = pivot_weight[:, position, None] * (luma @ (affine @ mean))  # (B, 1)
        affine = torch.baddbmm(pivot[..., None] * to_offsets, ordered[:, position], affine)
    return affine


def colour_jitter(x: Tensor, factors: Tensor, order: Tensor, active: Tensor) -> Tensor:
    """`ColourJitter.apply` per sample where `active`: one affine map each, one batched product."""
    batch, channels = x.shape[:2]
    affine = jitter_affine(factors, order, x.mean(dim=(2, 3)))
    affine = torch.where(active[:, None, None], affine, torch.eye(channels + 1, device=x.device))
    linear, offset = affine[:, :channels, :channels], affine[:, :channels, channels:]
    flat = torch.baddbmm(offset, linear, x.reshape(batch, channels, -1))
    return flat.clamp_(0, 1).view_as(x)


def grayscale(x: Tensor) -> Tensor:
    """Luma (torchvision's weights) replicated on the 3 channels."""
    gray = _constant(tuple(LUMA), x.device) @ x.flatten(2)
    return gray.view(x.shape[0], 1, *x.shape[2:]).expand_as(x)


def gaussian_blur(x: Tensor, sigma: Tensor, active: Tensor, radius: int) -> Tensor:
    """`augment.gaussian_blur` per sample where `active`, cut at min(radius, ceil(3 sigma)).

    Every sample gets a (2 radius + 1)-tap kernel with zeros beyond its own cut, so one
    depthwise convolution per axis blurs the whole batch.
    """
    batch, channels, height, width = x.shape
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma[:, None]) ** 2)
    kernel = kernel * (taps.abs() <= torch.ceil(3 * sigma.double())[:, None])
    kernel = torch.where(active[:, None], kernel / kernel.sum(dim=1, keepdim=True), taps == 0)
    kernel = kernel.repeat_interleave(channels, dim=0)
    planes = x.reshape(1, batch * channels, height, width)
    padded = F.pad(planes, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel[:, None, None, :], groups=batch * channels)
    return F.conv2d(rows, kernel[:, None, :, None], groups=batch * channels).view_as(x)
