"""Negative queue: FIFO order and size, detached keys, the loss against a literal reference
that appends the queued keys as negatives, and refusal where a queue makes no sense."""

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_app.errors import ConfigError
from ssl_app.losses import (
    DebiasedLoss,
    DecoupledLoss,
    HardNegativeLoss,
    InfoNCELoss,
    NegativeQueue,
    SoftTargetLoss,
    build_queue,
)


def _views(n: int = 5, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def _unit(rows: int, d: int = 4, seed: int = 1) -> torch.Tensor:
    return F.normalize(torch.randn(rows, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def infonce_with_queue(z1, z2, queue, tau: float) -> float:
    """Literal loop: row i against every other in-batch column and every queued key."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1).tolist()
    keys = F.normalize(queue.double(), dim=1).tolist()
    n2 = len(z)

    def cos(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    total = 0.0
    for i in range(n2):
        p = (i + n2 // 2) % n2
        candidates = [z[j] for j in range(n2) if j != i] + keys
        denom = sum(math.exp(cos(z[i], c) / tau) for c in candidates)
        total += -(cos(z[i], z[p]) / tau - math.log(denom))
    return total / n2


def test_queue_is_fifo_and_keeps_the_last_k():
    queue = NegativeQueue(size=5, dim=4)
    keys = _unit(12)
    assert queue.keys().shape == (0, 4)
    queue.push(keys[:2], keys[2:3])  # views are appended in the order given
    torch.testing.assert_close(queue.keys(), keys[:3])
    queue.push(keys[3:7])  # wraps around: the oldest two fall out
    torch.testing.assert_close(queue.keys(), keys[2:7])
    queue.push(keys[7:12])  # exactly K: the queue is the newest batch
    torch.testing.assert_close(queue.keys(), keys[7:12])
    queue.push(keys)  # more than K at once: the last K, in order
    torch.testing.assert_close(queue.keys(), keys[7:12])
    assert queue.keys().shape == (5, 4) and int(queue.count) == 5


def test_queued_keys_are_stored_normalised_and_detached():
    queue = NegativeQueue(size=8, dim=4)
    source = torch.randn(3, 4, requires_grad=True)
    queue.push(3 * source)
    assert not queue.keys().requires_grad
    torch.testing.assert_close(queue.keys(), F.normalize(source.detach(), dim=1))


def test_no_gradient_reaches_the_negatives():
    z1, z2 = (z.requires_grad_() for z in _views())
    negatives = torch.randn(6, 4, requires_grad=True)
    InfoNCELoss()(z1, z2, negatives).backward()
    assert negatives.grad is None and z1.grad is not None


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_loss_with_queue_matches_literal_reference(tau):
    z1, z2 = _views()
    queue = NegativeQueue(size=7, dim=4)
    queue.push(torch.randn(9, 4, generator=torch.Generator().manual_seed(2)))
    loss, stats = InfoNCELoss(temperature=tau).with_stats(z1.double(), z2.double(), queue.keys())
    assert loss.item() == pytest.approx(infonce_with_queue(z1, z2, queue.keys(), tau), rel=1e-6)
    assert stats["num_negatives"].item() == 2 * 5 - 2 + 7  # in-batch + queued
    assert stats["mi_bound"].item() == pytest.approx(math.log(2 * 5 - 1 + 7) - loss.item())


@pytest.mark.parametrize(
    "loss_fn",
    [
        DebiasedLoss(temperature=0.2, tau_plus=0.0),
        HardNegativeLoss(temperature=0.2, beta=0.0, tau_plus=0.0),
        SoftTargetLoss(temperature=0.2, alpha=0.0),
    ],
    ids=["debiased", "hard_negative", "soft_target"],
)
def test_family_at_neutral_settings_is_infonce_with_queue(loss_fn):
    z1, z2 = _views()
    negatives = _unit(6)
    expected = infonce_with_queue(z1, z2, negatives, 0.2)
    assert loss_fn(z1, z2, negatives).item() == pytest.approx(expected, rel=1e-5)


def test_decoupled_with_queue_drops_the_positive_from_the_denominator():
    z1, z2 = _views()
    negatives = _unit(6)
    logits = (
        F.normalize(torch.cat([z1, z2]), dim=1)
        @ F.normalize(torch.cat([z1, z2, negatives]), dim=1).T
        / 0.2
    )
    n2 = 10
    logits[torch.arange(n2), torch.arange(n2)] = float("-inf")
    positive = (torch.arange(n2) + n2 // 2) % n2
    p_pos = logits.softmax(1)[torch.arange(n2), positive]
    expected = (-p_pos.log() + torch.log1p(-p_pos)).mean()
    loss = DecoupledLoss(temperature=0.2)(z1, z2, negatives)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("name", ["clip", "nce"])
def test_queue_is_refused_for_losses_without_negatives(name):
    with pytest.raises(ConfigError, match=f"queue_size=8 makes no sense for loss={name}"):
        build_queue(name, 8, 4)
    assert build_queue(name, 0, 4) is None


@pytest.mark.parametrize("size", [-1, 2.5, "8", True])
def test_queue_size_must_be_a_non_negative_integer(size):
    with pytest.raises(ConfigError, match="queue_size must be an integer"):
        build_queue("infonce", size, 4)
