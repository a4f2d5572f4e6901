"""Batched views: the CPU path's distributions, its pixels given the same parameters, per-sample
randomness, seeding, and the model input format."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from torchvision.transforms import v2

from ssl_app.data import batch_views
from ssl_app.data import views as views_module
from ssl_app.data.augment import ColourJitter, GaussianBlur, RandomResizedCrop, colour_affine
from ssl_app.data.base import DatasetInfo
from ssl_app.data.batch_views import JITTER_STEPS, BatchViews, ViewParams
from ssl_app.data.views import ViewConfig, build_view_transform, view_ops
from ssl_app.errors import ConfigError

GRAY = DatasetInfo("gray", 1, 10, mean=(0.3,), std=(0.35,), image_size=32)
RGB = DatasetInfo("rgb", 3, 10, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), image_size=96)
DRAWS = 10_000
SOURCE = (48, 64)  # height, width: not square, so rows and columns cannot be mixed up
ALL_OPS = ViewConfig(blur_prob=0.5, solarize_prob=0.3)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(info: DatasetInfo, batch: int, height: int, width: int) -> torch.Tensor:
    shape = (batch, info.channels, height, width)
    return torch.randint(0, 256, shape, generator=_generator(0), dtype=torch.uint8)


def _record(monkeypatch, cls, name: str, log: list) -> None:
    """Wrap `cls.name` so each call appends its result to `log`."""
    original = getattr(cls, name)

    def recorded(self, *args, **kwargs):
        log.append(original(self, *args, **kwargs))
        return log[-1]

    monkeypatch.setattr(cls, name, recorded)


def _cpu_draws(config: ViewConfig, seed: int) -> dict[str, list]:
    """DRAWS runs of the CPU view transform (RGB, 8 px) with what its pieces drew, recorded."""
    names = ("crop", "steps", "sigma", "flip", "gray", "solarize")
    log: dict[str, list] = {name: [] for name in names}
    with pytest.MonkeyPatch.context() as patch:
        _record(patch, RandomResizedCrop, "params", log["crop"])
        _record(patch, ColourJitter, "draw", log["steps"])
        _record(patch, GaussianBlur, "draw", log["sigma"])
        _record(patch, v2.RandomHorizontalFlip, "transform", log["flip"])
        _record(patch, v2.RandomGrayscale, "transform", log["gray"])
        _record(patch, v2.RandomSolarize, "transform", log["solarize"])
        transform = build_view_transform(8, RGB, config)
        probe = torch.zeros(3, *SOURCE, dtype=torch.uint8)
        torch.manual_seed(seed)
        for _ in range(DRAWS):
            transform(probe)
    return log


@pytest.fixture(scope="module")
def draws() -> tuple[dict[str, list], ViewParams]:
    """CPU and batched parameter draws of the same config; blur allowed at 8 px to keep it fast."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(views_module, "BLUR_MIN_SIZE", 8)
        batched = BatchViews(8, RGB, ALL_OPS).sample(DRAWS, *SOURCE, "cpu", _generator(1))
        return _cpu_draws(ALL_OPS, seed=2), batched


def _area_and_log_aspect(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = boxes[:, 2], boxes[:, 3]
    return height * width / (SOURCE[0] * SOURCE[1]), np.log(width / height)


def test_crop_distributions_match_and_the_test_can_fail(draws):
    cpu, batched = draws
    cpu_area, cpu_aspect = _area_and_log_aspect(np.array(cpu["crop"], dtype=float))
    area, aspect = _area_and_log_aspect(batched.crop.numpy())
    assert ks_2samp(cpu_area, area).pvalue > 0.01
    assert ks_2samp(cpu_aspect, aspect).pvalue > 0.01
    other = BatchViews(8, RGB, replace(ALL_OPS, crop_scale=(0.3, 1.0)))
    other_area, _ = _area_and_log_aspect(other.sample(DRAWS, *SOURCE, "cpu").crop.numpy())
    assert ks_2samp(cpu_area, other_area).pvalue < 0.01


@pytest.mark.parametrize(
    ("flag", "log", "probability"),
    [
        ("flip", "flip", ALL_OPS.hflip),
        ("jitter", "steps", ALL_OPS.jitter_prob),
        ("gray", "gray", ALL_OPS.grayscale_prob),
        ("blur", "sigma", ALL_OPS.blur_prob),
        ("solarize", "solarize", ALL_OPS.solarize_prob),
    ],
)
def test_rates_match(draws, flag, log, probability):
    cpu, batched = draws
    tolerance = 4 * (probability * (1 - probability) / DRAWS) ** 0.5  # 4 binomial sigmas
    assert abs(len(cpu[log]) / DRAWS - probability) < tolerance
    assert abs(float(getattr(batched, flag).float().mean()) - probability) < tolerance


def test_jitter_factors_and_order_match(draws):
    cpu, batched = draws
    ranges = dict(view_ops(8, RGB, ALL_OPS).jitter.ranges)
    for column, name in enumerate(JITTER_STEPS):
        cpu_factors = np.array([f for steps in cpu["steps"] for n, f in steps if n == name])
        factors = batched.factors[:, column].numpy()
        assert ks_2samp(cpu_factors, factors).pvalue > 0.01, name
        low, high = ranges[name]
        for sample in (cpu_factors, factors):
            assert low <= sample.min() < low + 0.01 * (high - low)
            assert high - 0.01 * (high - low) < sample.max() <= high
    cpu_first = np.mean([[n for n, _ in s].index("hue") == 0 for s in cpu["steps"]])
    first = float((batched.order[:, 0] == JITTER_STEPS.index("hue")).float().mean())
    assert abs(cpu_first - 0.25) < 0.02 and abs(first - 0.25) < 0.02


def test_blur_sigma_matches(draws):
    cpu, batched = draws
    assert ks_2samp(np.array(cpu["sigma"]), batched.sigma.numpy()).pvalue > 0.01
    assert float(batched.sigma.min()) >= 0.1 and float(batched.sigma.max()) <= 2.0


def test_crop_boxes_equal_the_cpu_draws_from_the_same_seed():
    """The same uniforms give the same boxes: a try that fits, or the centre-crop fallback.

    At half the area or more, a 20 x 40 image often fits no try of aspect 3/4 to 4/3.
    """
    views = BatchViews(8, RGB, ViewConfig(crop_scale=(0.5, 1.0)))
    boxes = views.sample(500, 20, 40, "cpu", _generator(3)).crop
    torch.manual_seed(3)
    expected = [views.ops.crop.params(20, 40) for _ in range(500)]
    assert boxes.tolist() == [list(map(float, box)) for box in expected]
    assert 0 < expected.count(views.ops.crop.fallback(20, 40)) < 400


def _jitter_steps(params: ViewParams, row: int, size, info, config) -> list[tuple[str, float]]:
    """Row `row`'s jitter steps (name, factor) in its order, as `ColourJitter.draw` gives them."""
    active = [name for name, _ in view_ops(size, info, config).jitter.ranges]
    return [
        (JITTER_STEPS[j], float(params.factors[row, j]))
        for j in params.order[row].tolist()
        if JITTER_STEPS[j] in active
    ]


def _cpu_view(patch, image, params: ViewParams, row: int, size, info, config) -> torch.Tensor:
    """Row `row` of `params` through the CPU view transform, its own draws replaced by the row."""
    steps = _jitter_steps(params, row, size, info, config)
    box = tuple(int(v) for v in params.crop[row])
    patch.setattr(RandomResizedCrop, "params", lambda self, height, width: box)
    patch.setattr(ColourJitter, "draw", lambda self: steps)
    patch.setattr(GaussianBlur, "draw", lambda self: float(params.sigma[row]))
    flags = dict(
        hflip=params.flip,
        jitter_prob=params.jitter,
        grayscale_prob=params.gray,
        blur_prob=params.blur,
        solarize_prob=params.solarize,
    )
    row_config = replace(config, **{key: float(flag[row]) for key, flag in flags.items()})
    return build_view_transform(size, info, row_config)(image)


CASES = [(GRAY, 32, (40, 36)), (RGB, 32, (40, 36)), (RGB, 96, (128, 112))]


@pytest.mark.parametrize(("info", "size", "source"), CASES, ids=["gray32", "rgb32", "rgb96-blur"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_same_parameters_give_the_cpu_pixels(monkeypatch, info, size, source, dtype):
    """Crops smaller and larger than the view, each op on some samples and off on others.

    uint8: the CPU path rounds its resized crop to uint8 (off by up to 1 level; a little more,
    1.01 seen, as torchvision resizes uint8 in fixed point), which jitter amplifies by up to
    the ∞-norm of its colour matrix (up to ~6 at strength 0.5); float images in [0, 1] skip
    that rounding: the same maths to 2e-5.
    """
    config = replace(ALL_OPS, grayscale_prob=0.5)
    views = BatchViews(size, info, config)
    images = _images(info, 12, *source)
    images = images if dtype == torch.uint8 else images / 255
    params = views.sample(len(images), *source, "cpu", _generator(4))
    sides = params.crop[:, 2:]
    assert (sides.amax(1) < size).any() and (sides.amin(1) > size).any()
    flags = [params.flip, params.jitter, params.solarize]
    flags += [params.gray] * (info.channels == 3) + [params.blur] * (size >= 96)
    assert all(flag.any() and not flag.all() for flag in flags)
    batched = views.apply(images, params)
    cpu = torch.stack(
        [
            _cpu_view(monkeypatch, image, params, row, size, info, config)
            for row, image in enumerate(images)
        ]
    )
    std = torch.tensor(info.std)[:, None, None]
    levels = [_amplification(params, row, size, info, config) for row in range(len(images))]
    rounding = 1.05 * torch.tensor(levels)[:, None, None, None] / 255 if dtype == torch.uint8 else 0
    excess = (batched - cpu).abs() * std - rounding - 2e-5
    assert excess.max() <= 0, f"off by {excess.max():.2g} beyond the rounding bound"


def _amplification(params: ViewParams, row: int, size, info, config) -> float:
    """How far a 1-level input error can move an output channel: ‖M‖∞ of the row's colour map."""
    if not params.jitter[row]:
        return 1.0
    steps = _jitter_steps(params, row, size, info, config)
    matrix, _ = colour_affine(steps, np.full(info.channels, 0.5))
    return float(np.abs(matrix).sum(axis=1).max())


def test_blur_equals_the_cpu_blur_across_sigmas():
    """Per-sample kernels cut at ceil(3 sigma) below the maximum radius, and identity when off."""
    sigmas = torch.linspace(0.1, 2.0, 24)
    images = torch.rand(24, 3, 20, 17, generator=_generator(10))
    active = torch.arange(24) % 5 != 0
    blur = GaussianBlur(kernel_size=11)
    expected = torch.stack(
        [
            blur.apply(x, float(s)) if on else x
            for x, s, on in zip(images, sigmas, active, strict=True)
        ]
    )
    blurred = batch_views.gaussian_blur(images, sigmas, active, blur.max_radius)
    torch.testing.assert_close(blurred, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("info", [GRAY, RGB], ids=["gray", "rgb"])
def test_views_have_the_model_input_format_and_normalise(info):
    """A constant image without colour ops keeps its value through crop, flip: (v - mean) / std."""
    views = BatchViews(24, info, ViewConfig(color_jitter=0.0, grayscale_prob=0.0))
    constant = torch.full((5, info.channels, *SOURCE), 191, dtype=torch.uint8)
    first, second = views.two_views(constant)
    assert first.shape == second.shape == (5, info.channels, 24, 24)
    assert first.dtype == second.dtype == torch.float32
    mean, std = torch.tensor(info.mean)[:, None, None], torch.tensor(info.std)[:, None, None]
    expected = ((191 / 255 - mean) / std).expand_as(first)
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(second, expected)


def test_samples_and_views_get_their_own_parameters():
    views = BatchViews(16, RGB, ALL_OPS)
    params = views.sample(64, *SOURCE, "cpu", _generator(5))
    assert len(set(map(tuple, params.crop.tolist()))) > 60
    assert len(set(map(tuple, params.order.tolist()))) > 16  # of the 24 orders of 4 steps
    same_image = _images(RGB, 1, *SOURCE).expand(8, -1, -1, -1)
    first, second = views.two_views(same_image, _generator(6))
    difference = (first - second).flatten(1).abs().amax(1)
    assert (difference > 0.1).all()
    assert ((first[1:] - first[:1]).flatten(1).abs().amax(1) > 0.1).all()


def test_seeds_repeat_exactly_and_different_seeds_differ():
    """Same generator seed: same views; another seed (as another DDP rank has): other draws."""
    views = BatchViews(16, RGB, ALL_OPS)
    images = _images(RGB, 8, *SOURCE)
    first = views.two_views(images, _generator(7))
    again = views.two_views(images, _generator(7))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    params, other = (views.sample(8, *SOURCE, "cpu", _generator(s)) for s in (7, 8))
    assert not torch.equal(params.crop, other.crop)
    assert not torch.equal(params.factors, other.factors)


def test_ops_the_config_leaves_out_are_skipped():
    """Crop and flip only (gray source: no grayscale either) is a plain resize of the box."""
    off = ViewConfig((1.0, 1.0), hflip=1.0, color_jitter=0.0, blur_prob=1.0, solarize_prob=0.0)
    views = BatchViews(48, GRAY, off)  # blur needs 96 px
    images = _images(GRAY, 4, 48, 48)
    params = views.sample(4, 48, 48, "cpu", _generator(9))
    params.gray[:], params.jitter[:], params.solarize[:] = True, True, True
    expected = (images.flip(-1) / 255 - 0.3) / 0.35
    torch.testing.assert_close(views.apply(images, params), expected)


def test_solarize_is_a_validated_probability_on_both_paths():
    with pytest.raises(ConfigError, match="data.views.solarize_prob"):
        ViewConfig(solarize_prob=1.5)
    config = ViewConfig(solarize_prob=1.0, color_jitter=0.0, grayscale_prob=0.0)
    assert "RandomSolarize" in repr(build_view_transform(8, RGB, config))
    image = torch.tensor([[[0, 100], [128, 255]]], dtype=torch.uint8)
    solarized = torch.tensor([[[0.0, 100 / 255], [1 - 128 / 255, 0.0]]])  # x >= 0.5: 1 - x
    expected = (solarized - 0.3) / 0.35
    full = replace(config, crop_scale=(1.0, 1.0), hflip=0.0)
    torch.testing.assert_close(build_view_transform(2, GRAY, full)(image), expected)
    torch.testing.assert_close(BatchViews(2, GRAY, full)(image[None])[0], expected)


@pytest.mark.filterwarnings("error:Dynamo detected a call to a `functools")  # traced caches
def test_compiled_views_equal_the_eager_views():
    """`compile=True` runs the same ops fused: the same seed gives the same views, to float
    rounding, every op included (RGB for saturation, hue and grayscale; blur at 96 px)."""
    torch._dynamo.reset()
    images = _images(RGB, 6, 128, 112)
    eager, compiled = (BatchViews(96, RGB, ALL_OPS, compile=c) for c in (False, True))
    assert compiled.run_ops is not compiled.apply
    for seed in (10, 11):  # a second batch reuses the compiled code
        expected = eager.two_views(images, _generator(seed))
        got = compiled.two_views(images, _generator(seed))
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
