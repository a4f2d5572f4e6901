"""Two gloo processes with batch N each == one process with batch 2N, for every loss.

Each rank computes its loss on (local rows × gathered columns); parameter gradients are
all-reduce-averaged as DDP does. The mean of the rank losses and the averaged gradients
must equal the single-process loss and gradients: this catches positive masks that forget
the rank offset and gathers whose backward drops or mis-scales gradients. With a negative
queue, every rank pushes its own keys and must end with the queue of one process pushing
the doubled batch; the losses with the same queued keys must match too.
"""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from conftest import free_port

from ssl_app.losses import LOSSES, NegativeQueue, build_loss

WORLD, N, IN_DIM, QUEUE = 2, 4, 6, 11

CASES = [  # (case id, registry name, non-neutral settings)
    ("infonce", "infonce", {"temperature": 0.2, "learnable_temperature": True}),
    ("debiased", "debiased", {"temperature": 0.2, "tau_plus": 0.1}),
    ("hard_negative", "hard_negative", {"temperature": 0.3, "beta": 1.0, "tau_plus": 0.1}),
    ("decoupled", "decoupled", {"temperature": 0.2, "sigma": 0.5}),
    ("soft_target_uniform", "soft_target", {"alpha": 0.3}),
    ("soft_target_ema", "soft_target", {"alpha": 0.3, "source": "target"}),
    ("clip", "clip", {}),
    ("nce", "nce", {"temperature": 0.3, "learnable_temperature": True}),
]


QUEUE_CASES = [case for case in CASES if LOSSES.get(case[1]).takes_negatives]


def _encoder(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(IN_DIM, 16), nn.ReLU(), nn.Linear(16, 8))


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(123)
    return torch.randn(WORLD * N, IN_DIM, generator=g), torch.randn(WORLD * N, IN_DIM, generator=g)


def _queue(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """A queue filled by pushing the keys of a first batch (x1, x2), then this batch's."""
    queue, target = NegativeQueue(QUEUE, 8), _encoder(1)
    for _ in range(2):
        queue.push(target(x1), target(x2))
        x1, x2 = x1.flip(1), x2.flip(1)
    return queue.keys()


def _step(name: str, kwargs: dict, x1: torch.Tensor, x2: torch.Tensor, negatives=None):
    """Loss and gradients (encoder, then the loss's own parameters) for one batch."""
    encoder, target = _encoder(0), _encoder(1)
    loss_fn = build_loss(name, gather=True, **kwargs)
    targets = (target(x1).detach(), target(x2).detach()) if kwargs.get("source") else None
    loss = loss_fn(encoder(x1), encoder(x2), negatives, targets)
    loss.backward()
    params = [*encoder.parameters(), *loss_fn.parameters()]
    return loss.detach(), [p.grad.clone() for p in params]


def _worker(rank: int, port: int, path: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    x1, x2 = (x[rank * N : (rank + 1) * N] for x in _inputs())
    results = {}
    for case, name, kwargs in CASES:
        loss, grads = _step(name, kwargs, x1, x2)
        for t in (loss, *grads):
            dist.all_reduce(t)
            t /= WORLD
        results[case] = (loss, grads)
    queue = _queue(x1, x2)
    results["queue"] = queue
    for case, name, kwargs in QUEUE_CASES:
        loss, grads = _step(name, kwargs, x1, x2, queue)
        for t in (loss, *grads):
            dist.all_reduce(t)
            t /= WORLD
        results[f"{case}+queue"] = (loss, grads)
    if rank == 0:
        torch.save(results, path)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory) -> dict:
    path = str(tmp_path_factory.mktemp("ddp") / "results.pt")
    mp.spawn(_worker, args=(free_port(), path), nprocs=WORLD, join=True)
    return torch.load(path)


def test_every_gathering_loss_is_covered():
    assert {name for _, name, _ in CASES} == set(LOSSES.names())


@pytest.mark.parametrize(("case", "name", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_two_processes_match_one_with_double_batch(two_process_results, case, name, kwargs):
    loss, grads = _step(name, kwargs, *_inputs())
    dist_loss, dist_grads = two_process_results[case]
    assert dist_loss.item() == pytest.approx(loss.item(), rel=1e-5)
    assert len(grads) == len(dist_grads)
    for single, gathered in zip(grads, dist_grads, strict=True):
        assert single.abs().sum() > 0
        torch.testing.assert_close(gathered, single, rtol=1e-4, atol=1e-6)


def test_queue_holds_the_gathered_keys_of_every_rank(two_process_results):
    single = _queue(*_inputs())
    assert len(single) == QUEUE
    torch.testing.assert_close(two_process_results["queue"], single)


@pytest.mark.parametrize(("case", "name", "kwargs"), QUEUE_CASES, ids=[c[0] for c in QUEUE_CASES])
def test_two_processes_with_a_queue_match_one(two_process_results, case, name, kwargs):
    x1, x2 = _inputs()
    loss, grads = _step(name, kwargs, x1, x2, _queue(x1, x2))
    dist_loss, dist_grads = two_process_results[f"{case}+queue"]
    assert dist_loss.item() == pytest.approx(loss.item(), rel=1e-5)
    for single, gathered in zip(grads, dist_grads, strict=True):
        assert single.abs().sum() > 0
        torch.testing.assert_close(gathered, single, rtol=1e-4, atol=1e-6)
