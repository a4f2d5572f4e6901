"""Launchers and cluster configs: dry-run commands for given environments, the multinode
trainer read from SLURM/torchrun variables, sync_bn wiring, the Hydra SLURM launcher up to
submission, resume=auto, and shell hygiene (bash -n, shellcheck)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from scale_helpers import REPO, pretrain_command, quiet_env

from ssl_app.errors import CheckpointError
from ssl_app.train.resume import find_resume_checkpoint

TORCHRUN = REPO / "scripts/launch/torchrun.sh"
SBATCH = REPO / "scripts/launch/slurm.sbatch"
GPU_SCRIPTS = [REPO / "scripts/gpu_checks.sh", REPO / "scripts/gpu_kit.sh"]
SCRIPTS = [TORCHRUN, SBATCH, REPO / "docker/entrypoint.sh", *GPU_SCRIPTS]
SLURM_2x4 = {
    "SLURM_JOB_ID": "4242",
    "SLURM_NNODES": "2",
    "SLURM_JOB_NUM_NODES": "2",
    "SLURM_NTASKS_PER_NODE": "4",
    "SLURM_CPUS_PER_TASK": "8",
}
CLUSTER_VARS = ("SLURM_", "NNODES", "NODE_RANK", "MASTER_", "RUN_DIR", "NPROC_PER_NODE", "DRY_")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without cluster variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLUSTER_VARS)}
    return {**env, **extra}


def dry_run(script: Path, *args: str, **env: str) -> list[str]:
    done = subprocess.run(
        [str(script), "--dry-run", *args], env=clean_env(**env), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return shlex.split(done.stdout)


def test_sbatch_dry_run_for_two_nodes_of_four_gpus():
    assert dry_run(SBATCH, "data=cifar10", "optim.batch_size=128", **SLURM_2x4) == [
        *("srun", "--kill-on-bad-exit=1", "--cpus-per-task=8"),
        *("python", "-m", "ssl_app.pretrain", "trainer=multinode"),
        *("trainer.num_nodes=2", "trainer.devices=4"),
        *("hydra.run.dir=outputs/pretrain/slurm-4242", "resume=auto"),
        *("data=cifar10", "optim.batch_size=128"),
    ]


def test_sbatch_asks_for_resources_and_requeue_in_its_header():
    header = [line for line in SBATCH.read_text().splitlines() if line.startswith("#SBATCH")]
    options = {line.split()[1].split("=")[0]: line.split()[1] for line in header}
    assert options["--signal"] == "--signal=SIGUSR1@90"  # Lightning's SLURMEnvironment signal
    assert "--requeue" in options
    assert options["--ntasks-per-node"] == "--ntasks-per-node=4"
    assert options["--gpus-per-node"] == "--gpus-per-node=4"


def test_sbatch_outside_slurm_says_how_to_submit():
    done = subprocess.run([str(SBATCH)], env=clean_env(), capture_output=True, text=True)
    assert done.returncode == 2
    assert "sbatch" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_torchrun_dry_run_multi_node():
    env = {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29400"}
    words = dry_run(TORCHRUN, "data=cifar10", NPROC_PER_NODE="8", RUN_DIR="/shared/r1", **env)
    assert words == [
        *("python", "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=8"),
        *("--node-rank=1", "--master-addr=10.0.0.1", "--master-port=29400"),
        *("-m", "ssl_app.pretrain", "trainer=multinode", "trainer.num_nodes=2"),
        *("trainer.devices=8", "hydra.run.dir=/shared/r1", "data=cifar10"),
    ]


def test_torchrun_dry_run_single_node_is_standalone_with_one_fixed_run_dir():
    words = dry_run(TORCHRUN, "hydra.job.name=a b", NPROC_PER_NODE="2", DRY_RUN="1")
    assert words[:6] == ["python", "-m", "torch.distributed.run", "--nnodes=1"] + [
        "--nproc-per-node=2",
        "--standalone",
    ]
    run_dirs = [w for w in words if w.startswith("hydra.run.dir=outputs/pretrain/torchrun-")]
    assert len(run_dirs) == 1  # every rank writes to the same directory
    assert words[-1] == "hydra.job.name=a b"  # arguments survive quoting


def test_torchrun_multi_node_without_master_addr_fails_in_one_line():
    done = subprocess.run(
        [str(TORCHRUN), "--dry-run"], env=clean_env(NNODES="2"), capture_output=True, text=True
    )
    assert done.returncode == 2 and "MASTER_ADDR" in done.stderr


@pytest.mark.parametrize("script", [TORCHRUN, SBATCH])
def test_help(script):
    done = subprocess.run([str(script), "--help"], env=clean_env(), capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("Usage:")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_syntax(script):
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert os.access(script, os.X_OK)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def compose_pretrain(*overrides: str, hydra_config: bool = False):
    with initialize_config_module("ssl_app.conf", version_base=None):
        return compose("pretrain", overrides=list(overrides), return_hydra_config=hydra_config)


@pytest.mark.parametrize(
    ("env", "devices", "nodes"),
    [
        ({}, -1, 1),  # plain run: all GPUs of this node
        ({"SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4"}, 4, 2),
        ({"GROUP_WORLD_SIZE": "3", "LOCAL_WORLD_SIZE": "8"}, 8, 3),  # torchrun's variables
    ],
)
def test_multinode_trainer_reads_the_cluster_environment(monkeypatch, env, devices, nodes):
    for key in ("SLURM_NNODES", "SLURM_NTASKS_PER_NODE", "GROUP_WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    trainer = compose_pretrain("trainer=multinode").trainer
    assert (trainer.devices, trainer.num_nodes, trainer.strategy) == (devices, nodes, "ddp")


@pytest.mark.parametrize("trainer", ["ddp", "multinode"])
def test_sync_bn_switches_lightning_sync_batchnorm(trainer):
    assert compose_pretrain(f"trainer={trainer}").trainer.sync_batchnorm is False
    synced = compose_pretrain(f"trainer={trainer}", "model.sync_bn=true")
    assert synced.trainer.sync_batchnorm is True


def test_slurm_launcher_config_composes():
    launcher = compose_pretrain("hydra/launcher=slurm", hydra_config=True).hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.tasks_per_node == launcher.gpus_per_node == 4  # one process per GPU
    assert launcher.max_num_timeout > 0


def test_multirun_with_slurm_launcher_submits_one_array_job(tmp_path):
    """`ssl-pretrain --multirun hydra/launcher=slurm` up to `sbatch`: a stand-in sbatch records
    the script submitit writes and refuses the job, so nothing runs."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    bin_dir, record = tmp_path / "bin", tmp_path / "submitted.sh"
    bin_dir.mkdir()
    stand_ins = {"srun": "exit 1", "sbatch": f'cp "$1" {record}; echo "refused" >&2; exit 1'}
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    command = [
        *pretrain_command(),
        "--multirun",
        "hydra/launcher=slurm",
        "hydra.launcher.nodes=2",
        "hydra.launcher.partition=gpu",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "trainer=multinode",
        "optim.base_lr=0.3,0.6",
    ]
    env = quiet_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and record.is_file(), done.stderr[-2000:]
    lines = record.read_text().splitlines()
    for option in (
        "--nodes=2",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--cpus-per-task=8",
        "--partition=gpu",
        "--array=0-1",  # one array job, a task per sweep point
        "--signal=USR2@120",  # submitit's pre-timeout signal: it requeues and resubmits
    ):
        assert any(line.startswith(f"#SBATCH {option}") for line in lines), option
    assert any(line.startswith("srun ") and sys.executable in line for line in lines)


def touch(path: Path, mtime: float, readable: bool = True) -> Path:
    """A minimal ssl-pretrain checkpoint (or a truncated file) dated `mtime`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = {"model": {"backbone": "test_resnet"}}
    torch.save({"state_dict": {}, "hyper_parameters": {"cfg": cfg}}, path)
    if not readable:
        path.write_bytes(path.read_bytes()[:20])
    os.utime(path, (mtime, mtime))
    return path


def resume_path(resume: str, run_dir: Path, outputs_root: Path) -> Path:
    """The file `find_resume_checkpoint` found (it also holds what it read, once)."""
    return find_resume_checkpoint(resume, run_dir, outputs_root).path


def test_resume_auto_takes_own_newest_checkpoint_or_starts_fresh(tmp_path):
    run_dir, neighbour = tmp_path / "slurm-2", tmp_path / "slurm-1"
    touch(neighbour / "checkpoints" / "last.ckpt", 100)
    run_dir.mkdir()
    assert find_resume_checkpoint("auto", run_dir, tmp_path) is None  # not the neighbour's
    last = touch(run_dir / "checkpoints" / "last.ckpt", 200)
    assert resume_path("auto", run_dir, tmp_path) == last
    hpc = touch(run_dir / "hpc_ckpt_1.ckpt", 300)  # saved on SLURM's pre-timeout signal
    assert resume_path("auto", run_dir, tmp_path) == hpc
    os.utime(last, (400, 400))  # a later epoch finished after the requeue
    assert resume_path("auto", run_dir, tmp_path) == last


def test_resume_falls_back_to_the_newest_readable_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "run"
    hpc = touch(run_dir / "hpc_ckpt_1.ckpt", 100)
    touch(run_dir / "checkpoints" / "last.ckpt", 200, readable=False)  # a write cut short
    assert resume_path("auto", run_dir, tmp_path) == hpc
    assert "skipping a broken checkpoint" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="no readable checkpoints/last.ckpt"):
        find_resume_checkpoint("true", tmp_path / "new", tmp_path)  # only the broken one
