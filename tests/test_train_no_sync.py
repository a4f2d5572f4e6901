"""Training steps of ours never make the host wait for the device (issue 9): on a GPU each
such wait idles the GPU while the CPU queues the next step. Checked on CPU tensors by the ops
dispatched from ssl_app's own frames during steps Lightning does not log (logging steps,
every `log_every_n_steps`, and the divergence check every 20 steps read values on purpose)."""

import pytest
from conftest import quiet_trainer
from sync_recorder import SyncRecorder

from ssl_app.pretrain import build_components
from ssl_app.train.online_probe import OnlineLinearProbe

VARIANTS = {
    "infonce": [],
    "queue_and_ema": ["loss.queue_size=128", "model.ema.enabled=true"],
    "soft_target": ["loss=soft_target", "model.ema.enabled=true", "loss.source=target"],
    "nce": ["loss=nce"],
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_steps_never_sync(variant, pretrain_config):
    cfg = pretrain_config("data.augment=gpu", *VARIANTS[variant])
    module, datamodule, _ = build_components(cfg)
    probe = OnlineLinearProbe(datamodule.info.num_classes, every_n_epochs=1000)
    trainer = quiet_trainer(max_steps=3, log_every_n_steps=1000, callbacks=[probe])
    with SyncRecorder(source="/ssl_app/") as rec:
        trainer.fit(module, datamodule)
    assert trainer.global_step == 3
    assert rec.seen == [], "\n".join(sorted(set(rec.seen)))
