"""ContrastiveDataModule: batch structure, drop_last, eval loaders, config checks, YAML files."""

import pytest
import torch
from conftest import config_files, data_config
from omegaconf import OmegaConf

from ssl_app.data import ContrastiveDataModule, ViewConfig
from ssl_app.errors import ConfigError


def _digits(batch_size: int = 100, image_size: int = 32, **fields) -> ContrastiveDataModule:
    data = data_config("digits", image_size, views=ViewConfig(hflip=0.0), **fields)
    dm = ContrastiveDataModule(data, batch_size)
    dm.setup("fit")
    return dm


def test_train_batches_are_view_pairs_and_drop_the_last():
    dm = _digits(augment="cpu")
    loader = dm.train_dataloader()
    assert len(loader) == 1437 // 100
    (v1, v2), labels = next(iter(loader))
    assert v1.shape == v2.shape == (100, 1, 32, 32) and v1.dtype == torch.float32
    assert labels.shape == (100,) and labels.dtype == torch.int64
    assert not torch.allclose(v1, v2)
    assert sum(len(y) for _, y in loader) == 1400


def test_eval_loaders_cover_each_split_in_order_and_repeat():
    dm = _digits(eval_batch_size=128)
    train, test = dm.eval_dataloaders()
    assert dm.eval_dataloaders()[0] is train
    labels = torch.cat([y for _, y in test])
    assert torch.equal(labels, dm._split("test").labels)
    first = torch.cat([x for x, _ in train])
    assert first.shape == (1437, 1, 32, 32)
    torch.testing.assert_close(first, torch.cat([x for x, _ in train]))
    assert dm.has_labels and dm.info.num_classes == 10


def test_pretrain_and_train_share_one_dataset():
    dm = _digits()
    assert dm._split("pretrain") is dm._split("train")


def test_workers_zero_disables_persistent_workers():
    dm = _digits(num_workers=0, persistent_workers=True)
    assert dm.train_dataloader().persistent_workers is False


@pytest.mark.parametrize("batch_size", [0, -4])
def test_non_positive_batch_size_is_a_config_error(batch_size):
    with pytest.raises(ConfigError, match="optim.batch_size must be > 0"):
        ContrastiveDataModule(data_config("digits", 32), batch_size)


def test_batch_larger_than_the_data_set_is_a_data_error():
    from ssl_app.errors import DataError

    with pytest.raises(DataError, match="fewer than batch_size=5000"):
        _digits(batch_size=5000).train_dataloader()


@pytest.mark.parametrize("path", config_files("data"), ids=lambda p: p.stem)
def test_yaml_files_compose_to_typed_configs_that_build(path, pretrain_config):
    cfg = pretrain_config(f"data={path.stem}", "optim.batch_size=64")  # from data/_base
    data = OmegaConf.to_container(cfg.data, resolve=True)
    assert "_target_" not in data  # configs are data: nothing in them is called by name
    assert data["name"] == path.stem and "batch_size" not in data  # the one is optim.batch_size
    if path.stem in ("digits", "synthetic"):
        dm = ContrastiveDataModule(OmegaConf.to_object(cfg.data), cfg.optim.batch_size)
        assert dm.info.name == path.stem and dm.batch_size == 64


def test_worker_processes_deliver_the_same_structure():
    data = data_config(
        "synthetic",
        16,
        num_workers=1,
        persistent_workers=True,
        augment="cpu",
        dataset_kwargs={"size": 16, "test_size": 8, "image_size": 16},
    )
    dm = ContrastiveDataModule(data, batch_size=8)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert loader.persistent_workers
    batches = list(loader)
    assert len(batches) == 2
    (v1, v2), labels = batches[0]
    assert v1.shape == v2.shape == (8, 3, 16, 16) and labels.shape == (8,)


def test_device_views_batch_indices_then_make_both_views():
    dm = _digits(batch_size=16, augment="gpu")
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert loader.num_workers == 0
    index = next(iter(loader))
    assert index.dtype == torch.int64 and index.shape == (16,)
    (v1, v2), labels = dm.on_after_batch_transfer(index, 0)
    assert v1.shape == v2.shape == (16, 1, 32, 32) and v1.dtype == torch.float32
    expected = dm._split("pretrain").labels[index].clone()
    expected[torch.isin(index, torch.as_tensor(dm._split("val").indices))] = -1
    assert torch.equal(labels, expected)
    assert not torch.equal(v1, v2)


@pytest.mark.parametrize("augment", ["cpu", "gpu"])
def test_training_batches_hide_exactly_the_validation_labels(augment):
    """The online linear probe learns from training batches and is scored on validation:
    every validation image arrives unlabelled (-1), every other with its label."""
    dm = _digits(augment=augment)
    truth = dm._split("pretrain").labels
    hidden = torch.zeros(len(truth), dtype=torch.bool)
    hidden[dm._split("val").indices] = True
    dataset = dm.train_dataloader().dataset
    if augment == "gpu":
        _, labels = dm.on_after_batch_transfer(torch.arange(len(truth)), 0)
    else:
        labels = torch.as_tensor([dataset.base[i][1] for i in range(len(truth))])
    assert 0 < hidden.sum() < len(truth) and (truth >= 0).all()
    assert (labels[hidden] == -1).all()
    assert torch.equal(labels[~hidden], truth[~hidden])


def test_augment_auto_on_cpu_batches_small_images_only_and_bad_mode_is_refused():
    assert _digits(batch_size=16).views_on_device()  # 32 px: batched beats workers on a CPU
    dm = _digits(batch_size=16, image_size=96)
    (v1, _), _ = next(iter(dm.train_dataloader()))
    assert dm.device_views is None and v1.shape == (16, 1, 96, 96)
    with pytest.raises(ConfigError, match="data.augment must be one of cpu, gpu, auto"):
        _digits(augment="tpu")
