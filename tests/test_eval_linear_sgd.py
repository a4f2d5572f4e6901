"""SGD linear head on a frozen backbone: separable data is learned, shuffled labels stay at
chance, the backbone is untouched; the augmented loader and the `ssl-eval` wiring."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from conftest import make_checkpoint
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from ssl_app.data.augment import RandomResizedCrop
from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.errors import ConfigError
from ssl_app.eval.linear_sgd import augmented_train_loader, head_accuracy, train_linear_head
from ssl_app.evaluate import evaluate

NUM_CLASSES = 5


def separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiny (1, 4, 8) "images" labelled argmax(W x), kept where the top two scores differ by
    at least 1: a linear model is exact, with a margin that SGD reaches in a few epochs."""
    w = torch.randn(NUM_CLASSES, 32, generator=torch.Generator().manual_seed(7))
    x = torch.randn(4 * n, 32, generator=torch.Generator().manual_seed(seed))
    top2 = (x @ w.T).topk(2, dim=1)
    x = x[top2.values[:, 0] - top2.values[:, 1] >= 1.0][:n]
    return x.view(n, 1, 4, 8), (x @ w.T).argmax(1)


def frozen_backbone() -> nn.Module:
    """Flatten + a fixed orthogonal projection + BatchNorm (buffers that must not move)."""
    torch.manual_seed(3)
    projection = nn.Linear(32, 32)
    nn.init.orthogonal_(projection.weight)
    return nn.Sequential(nn.Flatten(), projection, nn.BatchNorm1d(32))


def loader(x: torch.Tensor, y: torch.Tensor, shuffle: bool) -> DataLoader:
    return DataLoader(TensorDataset(x, y), batch_size=64, shuffle=shuffle)


def fit(backbone: nn.Module, train_y_of=lambda y: y, batch_norm: bool = True) -> dict[str, float]:
    (xa, ya), (xb, yb) = separable(1000, 0), separable(500, 1)
    train, test = loader(xa, train_y_of(ya), shuffle=True), loader(xb, yb, shuffle=False)
    return train_linear_head(
        backbone, train, test, NUM_CLASSES, 10, 0.1, "cpu", batch_norm=batch_norm, progress=False
    )


@pytest.mark.parametrize("batch_norm", [True, False])
def test_separable_features_are_learned_and_backbone_stays_frozen(batch_norm):
    backbone = frozen_backbone().train()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    torch.manual_seed(0)
    res = fit(backbone, batch_norm=batch_norm)
    assert res["top1"] >= 0.95
    assert res["top5"] == 1.0  # 5 classes
    assert backbone.training and all(m.training for m in backbone.modules())
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in backbone.parameters())


def test_shuffled_labels_stay_at_chance():
    torch.manual_seed(0)
    shuffle = torch.Generator().manual_seed(0)
    res = fit(frozen_backbone(), lambda y: y[torch.randperm(len(y), generator=shuffle)])
    chance = torch.bincount(separable(500, 1)[1]).max().item() / 500
    assert res["top1"] < chance + 0.1


def test_head_accuracy_by_hand():
    x = torch.tensor([[0.0, 1.0, 2.0], [5.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    y = torch.tensor([2, 1, 1])  # argmax rows: 2 (hit), 0 (miss; 1 is second), 1 (hit)
    res = head_accuracy(nn.Identity(), nn.Identity(), [(x, y)], torch.device("cpu"))
    assert res["top1"] == pytest.approx(2 / 3)
    assert res["top5"] == 1.0  # top-3 of 3 classes


def test_non_positive_settings_are_config_errors():
    x, y = separable(8, 0)
    with pytest.raises(ConfigError, match="linear_sgd.lr"):
        train_linear_head(nn.Flatten(), loader(x, y, True), loader(x, y, False), 5, 1, 0.0)


@pytest.fixture(scope="module")
def hydra_conf():
    with initialize_config_module("ssl_app.conf", version_base=None):
        yield


def test_augmented_loader_crops_without_colour_changes(hydra_conf):
    data = compose("evaluate", overrides=["data=digits", "data.num_workers=0"]).data
    datamodule = ContrastiveDataModule(OmegaConf.to_object(data))
    datamodule.setup("validate")
    train = augmented_train_loader(datamodule, 16)
    transform = train.dataset.transform
    assert isinstance(transform.transforms[0], RandomResizedCrop)
    assert "ColourJitter" not in repr(transform)  # digits pretrains with colour jitter
    images, labels = next(iter(train))
    size = data.image_size
    assert images.shape == (16, 1, size, size) and images.dtype == torch.float32
    assert len(train.dataset) == len(datamodule.eval_dataloaders()[0].dataset)


@pytest.mark.slow
def test_ssl_eval_protocol_linear_sgd(tmp_path, hydra_conf):
    data = compose("evaluate", overrides=["data=digits"]).data
    make_checkpoint(
        tmp_path / "checkpoints" / "last.ckpt", data=OmegaConf.to_container(data, resolve=True)
    )
    overrides = ["num_workers=0", "progress=false", "protocol=linear_sgd", "linear_sgd.epochs=1"]
    out = evaluate(compose("evaluate", overrides=[f"run_dir={tmp_path}", *overrides]))
    row = out["rows"]["learned"]
    assert set(row) == {"linear_sgd_top1", "linear_sgd_top5", "split", "checkpoint", "step"}
    assert 0.1 < row["linear_sgd_top1"] <= row["linear_sgd_top5"] <= 1
    stored = json.loads((tmp_path / "eval.json").read_text())["digits"]
    assert stored["linear_sgd"]["learned"]["epochs"] == 1
