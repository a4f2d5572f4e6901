"""On-disk feature cache keyed by (weights, data set, split, transform).

Extraction is the slow part of evaluation; probes and sweeps then reuse the features. Any
change of the weights, the data set, the split or the eval transform gives a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ssl_app.eval.features import Features


def weights_hash(module: nn.Module) -> str:
    """SHA-256 over the names, shapes and bytes of every parameter and buffer."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(data.shape)}:{data.dtype}".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def feature_key(weights: str, data: Mapping[str, Any], split: str, transform: str) -> str:
    """Cache key: hash of the weights hash, the data set description, split and transform."""
    text = json.dumps([weights, dict(data), split, transform], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class FeatureCache:
    """`features(key, compute)` loads `<root>/<key>.pt` or computes and stores it.

    `root=None` disables caching; `hits` and `misses` count what happened.
    """

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = self.misses = 0

    def path(self, key: str) -> Path | None:
        return self.root / f"{key}.pt" if self.root is not None else None

    def features(self, key: str, compute: Callable[[], Features]) -> Features:
        path = self.path(key)
        if path is not None and path.is_file():
            try:
                stored = torch.load(path, map_location="cpu", weights_only=True)
                self.hits += 1
                return stored["feats"], stored["labels"]
            except Exception:  # a damaged entry of any kind is recomputed below
                path.unlink(missing_ok=True)
        self.misses += 1
        feats, labels = compute()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            torch.save({"feats": feats, "labels": labels}, tmp)
            tmp.replace(path)
        return feats, labels
