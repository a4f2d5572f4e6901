"""`extract_features` under DDP: two gloo ranks each extract the shard their DistributedSampler
deals them; the gathered features equal one process's extraction exactly, in data-set order,
with the indices DistributedSampler pads uneven sizes with dropped.

The backbone has small integer weights and the images integer pixels, so every feature is an
exact float32 sum whatever the batch composition: equality can be exact.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from conftest import free_port
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset

from ssl_app.eval.features import extract_features

WORLD, BATCH = 2, 3
CASES = {  # case id: (data set size, DistributedSampler kwargs)
    "even": (8, {"shuffle": False}),
    "uneven_padded": (7, {"shuffle": False}),
    "uneven_small": (5, {"shuffle": False}),
    "drop_last": (7, {"shuffle": False, "drop_last": True}),
    "shuffled": (9, {"shuffle": True, "seed": 3}),
}


def _dataset(n: int) -> TensorDataset:
    """Integer-valued 1x4x4 "images"; the label of image i is i, so order shows in the labels."""
    images = torch.randint(0, 5, (n, 1, 4, 4), generator=torch.Generator().manual_seed(n)).float()
    return TensorDataset(images, torch.arange(n))


def _backbone() -> nn.Module:
    linear = nn.Linear(16, 6, bias=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        linear.weight.copy_(torch.randint(-3, 4, (6, 16), generator=gen).float())
    return nn.Sequential(nn.Flatten(), linear)


def _worker(rank: int, port: int, path: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    results = {}
    for case, (n, kwargs) in CASES.items():
        dataset = _dataset(n)
        sampler = DistributedSampler(dataset, num_replicas=WORLD, rank=rank, **kwargs)
        loader = DataLoader(dataset, batch_size=BATCH, sampler=sampler)
        results[case] = extract_features(_backbone(), loader, progress=False)
    torch.save(results, f"{path}.{rank}")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def gathered(tmp_path_factory) -> list[dict]:
    """Per rank: case id → (features, labels) that rank's extract_features returned."""
    path = str(tmp_path_factory.mktemp("ddp_features") / "features")
    mp.spawn(_worker, args=(free_port(), path), nprocs=WORLD, join=True)
    return [torch.load(f"{path}.{rank}") for rank in range(WORLD)]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("rank", range(WORLD))
def test_gathered_shards_equal_one_process_in_order(gathered, case, rank):
    n, kwargs = CASES[case]
    kept = n - n % WORLD if kwargs.get("drop_last") else n  # drop_last: the tail is not dealt
    single = DataLoader(Subset(_dataset(n), range(kept)), batch_size=BATCH + 1)
    feats, labels = extract_features(_backbone(), single, progress=False)
    dist_feats, dist_labels = gathered[rank][case]
    assert torch.equal(dist_labels, torch.arange(kept))
    assert torch.equal(dist_feats, feats)
