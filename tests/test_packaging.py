"""Packaging: conf/ at the top of the repository ships inside the package as ssl_app.conf; a
wheel installed (not editable) in a fresh environment composes the configs from the package."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "README.md", "ssl_app", "conf"]  # what the Dockerfile copies too


def pyproject_setuptools() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_pyproject_lists_every_package_and_maps_conf():
    setuptools = pyproject_setuptools()
    inits = (REPO / "ssl_app").rglob("__init__.py")
    found = [".".join(p.parent.relative_to(REPO).parts) for p in inits]
    assert sorted(setuptools["packages"]) == sorted([*found, "ssl_app.conf"])
    assert setuptools["package-dir"] == {"ssl_app.conf": "conf"}


def run(command: list[str], cwd: Path, timeout: float = 300) -> str:
    """Run `command` in `cwd` (not the repository, so nothing imports from the checkout)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command[:4]}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    """A wheel built offline from a copy of the sources (the checkout gets no build/ folder)."""
    if importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("pip") is None:
        pytest.skip("no setuptools or pip here: a wheel cannot be built without an index")
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    run([*pip, "--wheel-dir", str(out), str(src)], cwd=tmp_path)
    (wheel,) = out.glob("ssl_app-*.whl")
    return wheel


def fresh_venv(path: Path) -> Path:
    """A new environment that sees this one's packages (torch, hydra, ...) after its own, through
    a .pth line: the wheel installed there shadows this environment's editable ssl_app, whose
    finder is not loaded (.pth files in a directory added by a .pth line are not read)."""
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    own = run([str(python), "-c", purelib], cwd=path)
    parents = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(own.strip()) / "_parent_env.pth").write_text("".join(f"{p}\n" for p in parents))
    return python


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_composes_the_shipped_configs(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert {"ssl_app/conf/pretrain.yaml", "ssl_app/conf/data/digits.yaml"} <= set(names)
    assert "ssl_app/config.py" in names  # the schemas that ssl_app.conf registers
    assert not [n for n in names if n.startswith("conf/")]  # conf/ only as ssl_app.conf
    python = fresh_venv(tmp_path / "venv")
    install = ["-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed"]
    run([str(python), *install, str(wheel)], tmp_path)  # never touches this environment
    where = run(
        [str(python), "-c", "import ssl_app.conf as c; print(c.__file__, c.__path__[0])"], tmp_path
    )
    assert all(Path(p).is_relative_to(tmp_path / "venv") for p in where.split())
    job = run([str(tmp_path / "venv" / "bin" / "ssl-pretrain"), "--cfg", "job"], tmp_path)
    assert "backbone: resnet18" in job and "name: digits" in job
