"""Loggers across resumes: the wandb run id lives in the run directory."""

from __future__ import annotations

from ssl_app.train.loggers import LoggerConfig, build_loggers


def wandb_id(run_dir) -> str:
    (wandb,) = build_loggers(LoggerConfig(csv=False, wandb={}), run_dir)
    return wandb._wandb_init["id"]


def test_resume_in_the_same_run_directory_continues_the_wandb_run(tmp_path):
    first = wandb_id(tmp_path / "run")
    assert wandb_id(tmp_path / "run") == first  # resumed in place: same run
    assert wandb_id(tmp_path / "other") != first  # another run directory: another run
    (wandb,) = build_loggers(LoggerConfig(csv=False, wandb={}), tmp_path / "run")
    assert wandb._wandb_init["resume"] == "allow"


def test_an_explicit_wandb_id_wins(tmp_path):
    (wandb,) = build_loggers(LoggerConfig(csv=False, wandb={"id": "mine"}), tmp_path)
    assert wandb._wandb_init["id"] == "mine"
