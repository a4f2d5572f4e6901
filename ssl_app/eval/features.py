"""Frozen-feature extraction: L2-normalised float32 features and int64 labels on the CPU.

kNN and the linear probe work on these features, so they are computed once per
(weights, data set, split, transform) and reused (see `cache.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler, Subset

from ssl_app.errors import DataError
from ssl_app.progress import track

Features = tuple[torch.Tensor, torch.Tensor]  # (M, D) float32 unit rows, (M,) int64 labels


def _module_device(module: nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _finish(chunks: list[torch.Tensor], labels: list[torch.Tensor], loader) -> Features:
    if not chunks:
        raise DataError("the evaluation split is empty; check the data set root and split")
    feats = F.normalize(torch.cat(chunks).float(), dim=1)
    return _gather_shards(feats, torch.cat(labels).long(), loader)


def _all_gather(local: torch.Tensor, on_device: torch.device) -> torch.Tensor:
    """Every rank's `local` (one shape on all ranks), concatenated in rank order, on the CPU."""
    parts = [torch.empty_like(local, device=on_device) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local.to(on_device))
    return torch.cat([p.cpu() for p in parts])


def _gather_shards(feats: torch.Tensor, labels: torch.Tensor, loader) -> tuple:
    """Under DDP with a DistributedSampler, gather every rank's shard back into data-set order.

    Ranks send the data-set indices their sampler dealt them, so shuffled samplers work too;
    an index DistributedSampler repeats to even out the shards is kept once.
    """
    sampler = getattr(loader, "sampler", None)
    if not (
        dist.is_available() and dist.is_initialized() and isinstance(sampler, DistributedSampler)
    ):
        return feats, labels
    on_device = torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")
    index = torch.as_tensor(list(sampler), dtype=torch.long)[: len(feats)]
    feats, labels, index = (_all_gather(t, on_device) for t in (feats, labels, index))
    index, order = index.sort(stable=True)
    first = torch.ones_like(index, dtype=torch.bool)
    first[1:] = index[1:] != index[:-1]
    return feats[order[first]], labels[order[first]]


def capped_loader(loader: DataLoader, cap: int, seed: int = 0) -> DataLoader:
    """`loader` over at most `cap` of its images: a seeded random subset kept in data-set order
    (the same subset on every call); `loader` itself when it holds no more than `cap`."""
    size = len(loader.dataset)
    if size <= cap:
        return loader
    index = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:cap]
    return DataLoader(
        Subset(loader.dataset, index.sort().values.tolist()),
        batch_size=loader.batch_size,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        persistent_workers=loader.persistent_workers,
    )


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode (BatchNorm statistics frozen), its train/eval mode restored after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    loader: Iterable,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> Features:
    """Backbone features of every `(images, labels)` batch: (M, D) float32 unit rows, (M,) int64.

    `device=None` keeps the backbone where it is; the train/eval mode is restored afterwards.
    """
    if device is not None:
        backbone = backbone.to(device)
    device = _module_device(backbone)
    chunks, labels = [], []
    with eval_mode(backbone):
        for images, targets in track(loader, "features", enabled=progress):
            out = backbone(images.to(device, non_blocking=True))
            chunks.append(out.flatten(1).float().cpu())
            labels.append(torch.as_tensor(targets).cpu())
    return _finish(chunks, labels, loader)


def raw_pixel_features(loader: Iterable, progress: bool = False) -> Features:
    """Flattened, L2-normalised input images: the no-learning baseline."""
    chunks, labels = [], []
    for images, targets in track(loader, "raw pixels", enabled=progress):
        chunks.append(images.flatten(1).float())
        labels.append(torch.as_tensor(targets))
    return _finish(chunks, labels, loader)


@torch.no_grad()
def view_pair_similarities(
    backbone: nn.Module, two_view_loader: Iterable, device=None, max_batches: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities of positive pairs (two views of one image) and of negative pairs
    (views of different images in a batch), from backbone features, for the histogram."""
    pos, neg = [], []
    for i, ((view1, view2), _) in enumerate(two_view_loader):
        if i == max_batches:
            break
        both = [(torch.cat([view1, view2]), torch.zeros(2 * len(view1)))]
        f1, f2 = extract_features(backbone, both, device, progress=False)[0].chunk(2)
        sims = f1 @ f2.T
        off_diagonal = ~torch.eye(len(sims), dtype=torch.bool)
        pos.append(sims.diagonal())
        neg.append(sims[off_diagonal])
    return torch.cat(pos), torch.cat(neg)
