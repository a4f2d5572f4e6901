"""Two CPU processes (gloo DDP) through the real CLI == one process with the doubled batch.

Deterministic views (full-image crops, no flips or colour), a norm-free backbone (GroupNorm
with one group) and head, and a data set of exactly one global batch: every rank's first batch
is then its half of the same 2N images the single process sees (DistributedSampler gives rank r
perm[r::W]; a larger data set would not match, since the single process's RandomSampler draws
another permutation). Losses are permutation-invariant over the batch, so the first-step loss
must agree, and the second one too if the gathered gradients and the global-batch lr are right.
"""

from __future__ import annotations

import sys

import pytest
from scale_helpers import REPO, logged_rows, pretrain_command, run

N = 8  # images per rank; the single process takes 2N

EXACT = [
    "data=synthetic",
    "data.image_size=16",
    f"data.dataset_kwargs.size={2 * N}",
    f"data.dataset_kwargs.test_size={2 * N}",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "data.views.crop_scale=[1.0,1.0]",
    "data.views.hflip=0",
    "data.views.jitter_prob=0",
    "data.views.grayscale_prob=0",
    "model=tiny",
    "+model.timm_kwargs.norm_layer=groupnorm1",
    "model.head.batch_norm=false",
    "epochs=2",
    "eval.linear=false",
    "eval.baselines=false",
    "eval.raw_pixels=false",
    "eval.every_n_epochs=1000",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
]


def pretrain(run_dir, *overrides: str) -> dict[str, list[float]]:
    run([*pretrain_command(), *EXACT, *overrides, f"hydra.run.dir={run_dir}"])
    return {c: logged_rows(run_dir, c) for c in ("train/loss", "train/num_negatives")}


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict[str, list[float]]:
    return pretrain(tmp_path_factory.mktemp("single"), f"optim.batch_size={2 * N}")


def assert_matches_single(logged: dict, single: dict) -> None:
    assert len(logged["train/loss"]) == len(single["train/loss"]) == 2
    assert logged["train/loss"] == pytest.approx(single["train/loss"], rel=1e-5)
    # every row sees the other 2·N·W − 1 columns: the positive and 2·N·W − 2 negatives
    assert logged["train/num_negatives"] == single["train/num_negatives"] == [4 * N - 2] * 2


@pytest.mark.slow
def test_two_process_ddp_cpu_matches_single_process_with_doubled_batch(single, tmp_path):
    logged = pretrain(tmp_path, "trainer=ddp_cpu", f"optim.batch_size={N}")
    assert_matches_single(logged, single)


@pytest.mark.slow
def test_torchrun_launcher_with_multinode_trainer_matches_too(single, tmp_path):
    """scripts/launch/torchrun.sh for real (2 CPU processes): trainer=multinode reads the
    process count from torchrun's environment."""
    run(
        [
            str(REPO / "scripts/launch/torchrun.sh"),
            *EXACT,
            "trainer.accelerator=cpu",
            "trainer.precision=32-true",
            f"optim.batch_size={N}",
        ],
        NPROC_PER_NODE="2",
        RUN_DIR=str(tmp_path),
        PYTHON=sys.executable,
    )
    logged = {c: logged_rows(tmp_path, c) for c in ("train/loss", "train/num_negatives")}
    assert_matches_single(logged, single)
