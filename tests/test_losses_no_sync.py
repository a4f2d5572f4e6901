"""No loss makes the host wait for the device: a GPU step then never stalls on its loss.

Checked on CPU tensors by watching the dispatched ops that read a device value back to the
host (`.item()`, boolean indexing, `nonzero`, `masked_select`), forward and backward, and with
a queue for the losses that take one; the detector itself is checked on a boolean index.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ssl_app.losses import LOSSES, build_loss

aten = torch.ops.aten
SYNC_OPS = {
    aten._local_scalar_dense.default,  # .item(), bool(tensor), python control flow on a tensor
    aten.nonzero.default,  # boolean indexing and torch.where(mask) with one argument
    aten.masked_select.default,
    aten.is_nonzero.default,
}
MASK_INDEXED = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default}


def boolean_index(args) -> bool:
    """Whether an `index`/`index_put` call indexes by a boolean mask (its count is read back)."""
    return any(i is not None and i.dtype == torch.bool for i in args[1])


class SyncRecorder(TorchDispatchMode):
    """Record the names of the host-syncing ops dispatched inside the `with` block."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in SYNC_OPS or (func in MASK_INDEXED and boolean_index(args)):
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


def test_recorder_sees_boolean_indexing():
    x = torch.randn(4, 4)
    with SyncRecorder() as rec:
        x[x > 0].sum()
    assert rec.seen


@pytest.mark.parametrize("name", LOSSES.names())
@pytest.mark.parametrize("queued", [False, True], ids=["batch", "queue"])
def test_loss_forward_and_backward_never_sync(name, queued):
    loss_fn = build_loss(name)
    if queued and not loss_fn.takes_negatives:
        pytest.skip(f"{name} takes no queued negatives")
    z1, z2 = (torch.randn(8, 16, requires_grad=True) for _ in range(2))
    negatives = torch.randn(32, 16) if queued else None
    with SyncRecorder() as rec:
        out = loss_fn.with_stats(z1, z2, negatives)
        out.loss.backward()
    assert rec.seen == [], f"{name}: host-device syncs {sorted(set(rec.seen))}"
