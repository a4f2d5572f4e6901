"""SIGTERM or Ctrl-C (SIGINT) to one rank of two gloo processes: both stop at the same step, at
the next agreement (every N steps or the epoch's end), and know which signal it was; a single
process stops at the step it was signalled in."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import TinyRegression, free_port, quiet_trainer
from lightning_fabric.plugins.environments import SLURMEnvironment
from pytorch_lightning.loops.training_epoch_loop import _TrainingEpochLoop
from pytorch_lightning.trainer.connectors.signal_connector import _SignalConnector
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, TensorDataset

from ssl_app.train.stop_signal import FlagOnlySignals, StopTogetherOnSignals

EVERY, STEPS_PER_EPOCH = 5, 12  # agreements at steps 5, 10, 12 (epoch end), 15, ...


class SignalAt(pl.Callback):
    """`signum` to this process once training step `step` is done, on global rank `rank` only."""

    def __init__(self, signum: int, rank: int, step: int) -> None:
        self.signum, self.rank, self.step = signum, rank, step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class CountCollectives(pl.Callback):
    """Calls of `dist.broadcast` (Lightning's per-step SIGTERM check) and `dist.all_reduce` (the
    agreement; DDP's gradient reduction does not pass through it) once training has started."""

    def __init__(self) -> None:
        self.counts = {"broadcast": 0, "all_reduce": 0}

    def on_train_start(self, trainer, pl_module) -> None:
        for name in self.counts:
            collective = getattr(dist, name)

            def counted(*args, _name=name, _collective=collective, **kwargs):
                self.counts[_name] += 1
                return _collective(*args, **kwargs)

            setattr(dist, name, counted)


def _environment(rank: int, world: int, port: int, slurm: bool) -> list:
    """One process per rank, as torchrun starts them, or as srun does (SLURM's variables and
    Lightning's SLURM environment with its requeue signal); the plugins that need."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if not slurm:
        os.environ.update(NODE_RANK="0", WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        return []
    tasks = {"SLURM_NTASKS": world, "SLURM_NTASKS_PER_NODE": world, "SLURM_NODEID": 0}
    os.environ.update(
        {k: str(v) for k, v in tasks.items()}, SLURM_JOB_ID="1", SLURM_PROCID=str(rank)
    )
    os.environ.update(SLURM_LOCALID=str(rank), SLURM_JOB_NAME="stop-signal-test")
    return [SLURMEnvironment(auto_requeue=True)]


def _train(rank: int, world: int, port: int, signum: int, signal_step: int, out: str) -> None:
    slurm = signum == signal.SIGUSR1
    plugins = _environment(rank, world, port, slurm) if world > 1 or slurm else []
    stop, counter = StopTogetherOnSignals(every_n_steps=EVERY), CountCollectives()
    # after `stop`: a signal in an agreement's step comes after that agreement
    callbacks = [stop, SignalAt(signum, rank=world - 1, step=signal_step), counter]
    trainer = quiet_trainer(
        devices=world, max_epochs=3, callbacks=callbacks, plugins=plugins, default_root_dir=out
    )
    data = DataLoader(TensorDataset(torch.randn(STEPS_PER_EPOCH * world, 4)), batch_size=1)
    stopped_at = None
    try:
        trainer.fit(TinyRegression(), data)
    except SIGTERMException:
        stopped_at = trainer.global_step
    connector = stop.connector
    record = {"stopped_at": stopped_at, "signalled": connector.requested, **counter.counts}
    record.update(stop_signal=connector.stop_signal, requeued=connector.requeued)
    Path(out, f"{rank}.json").write_text(json.dumps(record))


def run_ranks(
    world: int, signum: int, signal_step: int, out: Path, timeout: float = 150
) -> list[dict]:
    """`_train` in `world` processes; each rank's record. A hang past `timeout` fails."""
    args = (world, free_port(), signum, signal_step, str(out))
    context = mp.spawn(_train, args=args, nprocs=world, join=False)
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the ranks hung: no exit {timeout:.0f} s after the start")
    return [json.loads((out / f"{rank}.json").read_text()) for rank in range(world)]


@pytest.mark.parametrize(
    ("signum", "signal_step", "stop_step", "agreements"),
    [
        (signal.SIGTERM, 6, 10, 2),  # the next multiple of EVERY
        (signal.SIGTERM, 11, STEPS_PER_EPOCH, 3),  # the epoch's end
        (signal.SIGINT, 6, 10, 2),  # Ctrl-C: no KeyboardInterrupt mid-step
    ],
    ids=["every_n_steps", "epoch_end", "ctrl_c"],
)
def test_a_signal_to_one_rank_stops_both_at_the_same_step(
    tmp_path, signum, signal_step, stop_step, agreements
):
    rank0, rank1 = run_ranks(2, signum, signal_step, tmp_path)
    assert (rank0["signalled"], rank1["signalled"]) == (0, signum)
    assert rank0["stop_signal"] == rank1["stop_signal"] == signum
    assert rank0["stopped_at"] == rank1["stopped_at"] == stop_step
    # one all-reduce per agreement, none of Lightning's per-step broadcasts
    assert rank0["all_reduce"] == rank1["all_reduce"] == agreements
    assert rank0["broadcast"] == rank1["broadcast"] == 0


def test_slurm_requeue_signal_to_one_rank_saves_on_both_at_the_same_step(tmp_path):
    """SIGUSR1 before the time limit: `hpc_ckpt_1.ckpt` from the step both ranks agreed on,
    taken between steps, not in the handler; training goes on to the end."""
    rank0, rank1 = run_ranks(2, signal.SIGUSR1, 6, tmp_path)
    assert rank0["requeued"] and rank1["requeued"]
    assert rank0["stopped_at"] is None and rank1["stopped_at"] is None
    assert rank0["all_reduce"] == rank1["all_reduce"] == 3 * STEPS_PER_EPOCH // EVERY + 3
    saved = torch.load(tmp_path / "hpc_ckpt_1.ckpt", weights_only=True)
    assert saved["global_step"] == 10


def test_a_single_process_stops_at_the_step_it_was_signalled_in(tmp_path):
    (alone,) = run_ranks(1, signal.SIGTERM, 3, tmp_path)
    expected = {"stopped_at": 3, "signalled": signal.SIGTERM, "stop_signal": signal.SIGTERM}
    assert alone == {**expected, "broadcast": 0, "all_reduce": 0, "requeued": False}


def test_lightning_still_has_what_is_replaced():
    """A Lightning that renamed these would bring its broadcasting handler back unnoticed."""
    assert callable(getattr(_SignalConnector, "_sigterm_notifier_fn", None))
    assert callable(getattr(_TrainingEpochLoop, "_broadcast_sigterm_tensor", None))


def test_slurm_requeue_signal_only_notes_and_the_save_waits_for_the_agreement(monkeypatch):
    """One process: SIGUSR1 runs nothing in the handler; the next agreement (the step's end)
    runs Lightning's save + requeue once and training goes on; SIGTERM still stops at once."""
    ran = []

    def lightning_handler(self, signum, frame) -> None:
        ran.append(signum)

    monkeypatch.setattr(_SignalConnector, "_slurm_sigusr_handler_fn", lightning_handler)
    connector = FlagOnlySignals(quiet_trainer(plugins=[SLURMEnvironment(auto_requeue=True)]))
    connector.register_signal_handlers()
    try:
        usr1 = signal.getsignal(signal.SIGUSR1).signal_handlers
        assert [h.__func__ for h in usr1] == [FlagOnlySignals._slurm_sigusr_handler_fn]
        os.kill(os.getpid(), signal.SIGUSR1)
        assert connector.requeue_requested and ran == []
        connector.agree()
        connector.agree()
        assert ran == [signal.SIGUSR1] and not connector.received_sigterm
        os.kill(os.getpid(), signal.SIGTERM)
        assert connector.requested and connector.received_sigterm
    finally:
        connector.teardown()


def test_a_second_ctrl_c_aborts_at_once():
    """Under DDP the first Ctrl-C only asks the ranks to stop together; the second raises."""
    connector = FlagOnlySignals(quiet_trainer())
    connector._sigint_notifier_fn(signal.SIGINT, None)
    assert connector.requested == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):
        connector._sigint_notifier_fn(signal.SIGINT, None)
