"""One FAISS at a time: the extras pick faiss-cpu or faiss-gpu (never both, as both install the
module `faiss`), the imported module is the installed build, and without any FAISS the torch
path gives the same kNN answers."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ssl_app.errors import ConfigError
from ssl_app.eval import knn

REPO = Path(__file__).resolve().parents[1]
BUILDS = {"faiss-cpu": "cpu", "faiss-gpu": "gpu", "faiss-gpu-cu12": "gpu", "faiss-gpu-cu11": "gpu"}


def installed_faiss() -> list[str]:
    """The FAISS distributions installed in this interpreter's environment."""
    found = []
    for name in BUILDS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def requirement_names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("=")[0].split("[")[0].strip() for r in requirements}


def test_one_faiss_is_installed_and_it_is_the_module_imported():
    found = installed_faiss()
    assert len(found) <= 1, f"several FAISS builds overwrite one `faiss` module: {found}"
    if not found:
        assert knn.faiss_build() is None
        return
    (name,) = found
    assert knn.faiss_build() == BUILDS[name]
    module_file = importlib.metadata.distribution(name).locate_file("faiss/__init__.py")
    assert Path(knn.faiss.__file__).resolve() == Path(module_file).resolve()


def test_extras_each_bring_one_faiss_and_the_core_none():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = {k: requirement_names(v) for k, v in project["optional-dependencies"].items()}
    assert not requirement_names(project["dependencies"]) & set(BUILDS)
    assert extras["cpu"] & set(BUILDS) == {"faiss-cpu"}
    assert extras["gpu"] & set(BUILDS) == {"faiss-gpu"}
    assert all(len(names & set(BUILDS)) <= 1 for names in extras.values())


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
@pytest.mark.parametrize(("build", "other"), [("cpu", "faiss-gpu"), ("gpu", "faiss-cpu")])
def test_make_venv_installs_one_build_and_removes_the_other(build, other):
    done = subprocess.run(
        ["make", "-n", "-B", "venv", f"FAISS={build}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    uninstall, install = (
        line for line in done.stdout.splitlines() if "pip uninstall" in line or "-e '" in line
    )
    assert other in uninstall.split() and f"faiss-{build}" not in uninstall.split()
    assert install.endswith(f"-e '.[{build},dev]'")


def test_docker_image_installs_the_gpu_extra_alone():
    lines = (REPO / "docker" / "Dockerfile").read_text().splitlines()
    commands = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "'.[gpu,slurm]'" in commands and "faiss" not in commands
    pins = (REPO / "docker" / "constraints.txt").read_text().splitlines()
    assert [p for p in pins if p.startswith("faiss")] == ["faiss-gpu==1.15.1"]


@pytest.mark.skipif(knn.faiss is None, reason="no FAISS installed to compare with")
def test_without_faiss_the_torch_path_gives_the_same_top1(monkeypatch):
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 16, generator=g)
    bank_labels, query_labels = torch.arange(5).repeat(40), torch.arange(5).repeat(10)
    bank = F.normalize(centres[bank_labels] + 2 * torch.randn(200, 16, generator=g), dim=1)
    query = F.normalize(centres[query_labels] + 2 * torch.randn(50, 16, generator=g), dim=1)
    with_faiss = knn.knn_predict(bank, bank_labels, query, query_labels, k=20)
    monkeypatch.setattr(knn, "faiss", None)
    assert knn.resolve_backend("auto") == "torch" and knn.faiss_gpus() == 0
    without = knn.knn_predict(bank, bank_labels, query, query_labels, k=20)
    assert torch.equal(with_faiss["pred"], without["pred"])
    assert 0.5 < with_faiss["top1"].float().mean() < 1  # a case where neighbours matter
    with pytest.raises(ConfigError, match=r"pip install 'ssl_app\[cpu\]'"):
        knn.build_index(bank)
