"""Feature cache: hit on the second call, miss when weights, split or transform change."""

from __future__ import annotations

import torch
import torch.nn as nn

from ssl_app.eval.cache import FeatureCache, feature_key, weights_hash
from ssl_app.eval.features import extract_features

DATA = {"name": "synthetic", "image_size": 8}


def test_cache_hits_then_misses_after_weights_change(tmp_path):
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))  # BN: 0-dim buffer
    loader = [(torch.randn(5, 4), torch.arange(5))]
    cache = FeatureCache(tmp_path)

    def run():
        key = feature_key(weights_hash(net), DATA, "test", "eval-transform")
        return cache.features(key, lambda: extract_features(net, loader, progress=False))

    first = run()
    second = run()
    assert (cache.hits, cache.misses) == (1, 1)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    with torch.no_grad():
        net[0].weight[0, 0] += 1e-3
    third = run()
    assert (cache.hits, cache.misses) == (1, 2)
    assert not torch.equal(first[0], third[0])


def test_key_depends_on_every_part():
    base = feature_key("w", DATA, "train", "t")
    others = [
        feature_key("w2", DATA, "train", "t"),
        feature_key("w", {**DATA, "image_size": 16}, "train", "t"),
        feature_key("w", DATA, "test", "t"),
        feature_key("w", DATA, "train", "t2"),
    ]
    assert base == feature_key("w", dict(reversed(DATA.items())), "train", "t")
    assert len({base, *others}) == 5


def test_damaged_entry_is_recomputed_and_disabled_cache_never_hits(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.path("k").write_bytes(b"garbage")
    value = (torch.zeros(2, 2), torch.zeros(2, dtype=torch.long))
    assert cache.features("k", lambda: value)[0].shape == (2, 2) and cache.misses == 1
    assert cache.features("k", lambda: None)[0].shape == (2, 2) and cache.hits == 1
    off = FeatureCache(None)
    off.features("k", lambda: value)
    off.features("k", lambda: value)
    assert (off.hits, off.misses) == (0, 2)
