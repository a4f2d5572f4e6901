"""Online linear probe: leaves the backbone alone, learns, survives a checkpoint, follows config."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from conftest import QUICK_EVAL, quiet_trainer
from omegaconf import OmegaConf
from PIL import Image

from ssl_app.pretrain import build_components, run_callbacks
from ssl_app.train.online_probe import ONLINE_LINEAR_METRIC, OnlineLinearProbe


class BackboneGrads(pl.Callback):
    """The backbone's gradients at every optimiser step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        grads = {n: p.grad.clone() for n, p in pl_module.backbone.named_parameters()}
        self.steps.append(grads)


def fit(cfg, callbacks: list, batches: int | None = 3, ckpt_path=None, epochs: int = 1):
    """`batches` training steps per epoch of the tiny digits run; (module, trainer)."""
    module, datamodule, _ = build_components(cfg)
    trainer = quiet_trainer(max_epochs=epochs, limit_train_batches=batches, callbacks=callbacks)
    trainer.fit(module, datamodule, ckpt_path=ckpt_path)
    return module, trainer


def test_backbone_gradients_and_weights_are_the_same_with_and_without_the_probe(
    pretrain_config,
):
    """Same seed, an epoch of 3 steps and the probe's end-of-epoch validation: every backbone
    gradient and the final weights and BatchNorm statistics are bit-identical."""
    cfg = pretrain_config(*QUICK_EVAL)
    runs = []
    for probe in ([], [OnlineLinearProbe(10)]):
        spy = BackboneGrads()
        module, trainer = fit(cfg, [spy, *probe])
        runs.append((spy.steps, module.backbone.state_dict()))
    assert ONLINE_LINEAR_METRIC in trainer.callback_metrics
    (grads_off, state_off), (grads_on, state_on) = runs
    assert len(grads_off) == len(grads_on) == 3
    for off, on in zip(grads_off, grads_on, strict=True):
        assert all(torch.equal(off[n], on[n]) for n in off)
    assert all(torch.equal(state_off[k], state_on[k]) for k in state_off)


def test_probe_learns_digits_in_three_short_epochs(pretrain_config):
    """Three epochs of the tiny model (66 steps of 64 images): far above the 10 % of chance.
    (After the first epoch it is still near chance: the backbone moves fast and its BatchNorm
    running statistics, used on validation, still hold 10 % of their initial values.)"""
    probe = OnlineLinearProbe(10)
    _, trainer = fit(pretrain_config(*QUICK_EVAL), [probe], batches=None, epochs=3)
    top1 = float(trainer.callback_metrics[ONLINE_LINEAR_METRIC])
    assert top1 > 0.5, top1


def test_probe_state_round_trips_through_a_checkpoint(pretrain_config, tmp_path):
    first = OnlineLinearProbe(10)
    _, trainer = fit(pretrain_config(*QUICK_EVAL), [first], batches=2)
    path = tmp_path / "probe.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)["callbacks"]["OnlineLinearProbe"]
    assert torch.equal(saved["head"]["1.weight"], first.head[1].weight)
    second = OnlineLinearProbe(10)
    fit(pretrain_config(*QUICK_EVAL), [second], batches=2, ckpt_path=path)  # done: restores only
    heads = (first.head.state_dict().values(), second.head.state_dict().values())
    for a, b in zip(*heads, strict=True):
        assert torch.equal(a, b)
    momentum = [s["momentum_buffer"] for s in second.optimizer.state_dict()["state"].values()]
    expected = [s["momentum_buffer"] for s in first.optimizer.state_dict()["state"].values()]
    assert len(momentum) == 2 and all(map(torch.equal, momentum, expected))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ((), True),
        (("eval.online_linear=false",), False),
        (("data=imagefolder", "data.root={folder}"), False),  # no class folders: no labels
    ],
)
def test_probe_is_on_with_labels_unless_switched_off(
    pretrain_config, tmp_path, overrides, expected
):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (12, 12), (60 * i, 0, 0)).save(folder / f"{i}.png")
    cfg = pretrain_config(*(o.format(folder=folder) for o in overrides))
    _, datamodule, _ = build_components(cfg)
    callbacks = run_callbacks(OmegaConf.to_object(cfg.eval), tmp_path, datamodule, 60)
    probes = [c for c in callbacks if isinstance(c, OnlineLinearProbe)]
    assert len(probes) == int(expected)
    if expected:
        assert probes[0].num_classes == 10
