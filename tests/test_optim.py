"""Optimiser construction and the warmup + cosine schedule."""

import math

import pytest
import torch.nn as nn

from ssl_app.errors import ConfigError
from ssl_app.train.optim import build_optimizer, scaled_lr, warmup_cosine


def test_linear_scaling_rule():
    assert scaled_lr(0.3, 256) == pytest.approx(0.3)
    assert scaled_lr(0.3, 4096) == pytest.approx(4.8)


def test_warmup_cosine_hand_computed():
    # 10 warmup steps then cosine over 90: start 1/10, peak 1, half-way 0.5, end 0
    assert warmup_cosine(0, 10, 100) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine(10, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine(55, 10, 100) == pytest.approx(0.5)
    assert warmup_cosine(100, 10, 100) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(40, 10, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 3)))


def test_no_warmup_starts_at_peak():
    assert warmup_cosine(0, 0, 50) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["sgd", "adamw", "lars"])
def test_no_weight_decay_on_bias_and_norm(name):
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    opt = build_optimizer(model, name, lr=0.1, weight_decay=1e-4)
    decay = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    weights = {id(model[0].weight), id(model[2].weight)}
    assert decay == weights


def test_bad_optimiser_values():
    model = nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="choose one of: .*sgd"):
        build_optimizer(model, "sgdd", lr=0.1, weight_decay=0)
    with pytest.raises(ConfigError, match="optim.lr must be > 0"):
        build_optimizer(model, "sgd", lr=0.0, weight_decay=0)


def test_fused_applies_to_adam_family_only():
    model = nn.Linear(3, 2)
    assert build_optimizer(model, "adamw", 0.1, 0.0, fused=True).defaults["fused"] is True
    assert build_optimizer(model, "adamw", 0.1, 0.0).defaults["fused"] in (None, False)
    assert "fused" not in build_optimizer(model, "lars", 0.1, 0.0, fused=True).defaults
