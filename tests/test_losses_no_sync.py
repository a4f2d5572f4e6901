"""No loss makes the host wait for the device: a GPU step then never stalls on its loss.

Checked on CPU tensors by watching the dispatched ops that read a device value back to the
host (`.item()`, boolean indexing, `nonzero`, `masked_select`), forward and backward, and with
a queue for the losses that take one; the detector itself is checked on a boolean index.
"""

import pytest
import torch
from sync_recorder import SyncRecorder

from ssl_app.losses import LOSSES, build_loss


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
