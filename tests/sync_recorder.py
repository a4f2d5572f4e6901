"""Which ops read a device value back to the host (a CPU–GPU sync on CUDA), seen on CPU
tensors: `.item()`, `bool(tensor)`, boolean indexing, `nonzero`, `masked_select`."""

from __future__ import annotations

import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
SYNC_OPS = {
    aten._local_scalar_dense.default,  # .item(), bool(tensor), python control flow on a tensor
    aten.nonzero.default,  # torch.where(mask) with one argument
    aten.masked_select.default,
    aten.is_nonzero.default,
}
MASK_INDEXED = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default}


def boolean_index(args) -> bool:
    """Whether an `index`/`index_put` call indexes by a boolean mask (its count is read back)."""
    return any(i is not None and i.dtype == torch.bool for i in args[1])


class SyncRecorder(TorchDispatchMode):
    """Record each host-syncing op dispatched inside the `with` block, as "op at file:line" of
    the innermost frame whose path contains `source` (ops with no such frame are ignored)."""

    def __init__(self, source: str = "") -> None:
        super().__init__()
        self.source, self.seen = source, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in SYNC_OPS or (func in MASK_INDEXED and boolean_index(args)):
            frames = [f for f in traceback.extract_stack() if self.source in f.filename]
            if frames:
                self.seen.append(f"{func} at {frames[-1].filename}:{frames[-1].lineno}")
        return func(*args, **(kwargs or {}))
