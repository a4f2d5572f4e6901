"""Feature extraction: normalised float32 rows, int64 labels, mode restored, no grads."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from ssl_app.errors import DataError
from ssl_app.eval.features import extract_features, raw_pixel_features


def batches(n_batches: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 1, 4, 4, generator=g), torch.arange(4) + i) for i in range(n_batches)]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 6)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc(x.flatten(1)))


@pytest.mark.parametrize("training", [True, False])
def test_features_are_normalised_deterministic_and_restore_mode(training):
    net = Net().train(training)
    data = batches()
    feats, labels = extract_features(net, data, progress=True)
    assert feats.shape == (12, 6) and feats.dtype == torch.float32 and not feats.requires_grad
    assert labels.dtype == torch.int64 and labels.tolist() == [
        j + i for i in range(3) for j in range(4)
    ]
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(12))
    expected = torch.nn.functional.normalize(net.fc(torch.cat([b[0] for b in data]).flatten(1)))
    torch.testing.assert_close(feats, expected.detach())
    assert net.training is training


def test_raw_pixels_are_flattened_and_normalised():
    data = batches(2)
    feats, labels = raw_pixel_features(data)
    images = torch.cat([b[0] for b in data]).flatten(1)
    torch.testing.assert_close(feats, images / images.norm(dim=1, keepdim=True))
    assert labels.shape == (8,)


def test_empty_split_is_a_clear_error():
    with pytest.raises(DataError, match="empty"):
        extract_features(Net(), [], progress=False)
