"""End-to-end pretraining: run directory contents, resume, and one-line errors."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

import pytest
import pytorch_lightning as pl
import torch
from conftest import QUICK_EVAL, TINY_RUN
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException

from ssl_app.errors import CheckpointError, ConfigError
from ssl_app.evaluate import evaluate
from ssl_app.pretrain import run_pretraining
from ssl_app.train.module import ema_update
from ssl_app.train.resume import check_resume_checkpoint, find_resume_checkpoint


def steps_in(ckpt_path) -> int:
    return torch.load(ckpt_path, map_location="cpu", weights_only=True)["global_step"]


@pytest.mark.slow
def test_tiny_run_writes_checkpoint_and_results(pretrain_config, tmp_path):
    """results.json has ssl-eval's schema, and ssl-eval on the run's last.ckpt and at random
    init (the same protocol code, the same seeding) gives the same kNN numbers."""
    results = run_pretraining(pretrain_config(), tmp_path)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "best-knn.ckpt").is_file()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {"data": "digits", **saved["digits"]} == json.loads(json.dumps(results))
    rows = saved["digits"]["rows"]
    assert list(rows) == ["learned", "random init", "raw pixels"]
    for row in rows.values():
        assert row["split"] == "test"
        assert 0.0 <= row["knn_top1"] <= 1.0 and 0.0 <= row["linear_top1"] <= 1.0
    assert rows["raw pixels"]["knn_top1"] > 0.8  # digits are easy: a sanity anchor
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert rows["learned"]["checkpoint"] == str(last)
    assert rows["learned"]["step"] == steps_in(last)
    assert rows["random init"] | {"checkpoint": "random", "seed": 0} == rows["random init"]
    for extra in ([], ["checkpoint=random"]):
        again = evaluate_run(tmp_path, extra)["rows"]
        label = "random init" if extra else "learned"
        assert again[label]["knn_top1"] == rows[label]["knn_top1"]
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    for column in ("train/loss", "train/mi_bound", "train/pos_sim", "val/knn_top1", "lr"):
        assert column in header


def evaluate_run(run_dir, extra: list[str]) -> dict:
    """`ssl-eval run_dir=<run_dir> protocol=knn` (no sweep, no plots) with `extra` overrides."""
    fast = ["protocol=knn", "plots=false", "progress=false", "knn.sweep_k=[]", "num_workers=0"]
    with initialize_config_module("ssl_app.conf", version_base=None):
        return evaluate(compose("evaluate", overrides=[f"run_dir={run_dir}", *fast, *extra]))


@pytest.mark.slow
def test_resume_continues_at_saved_step(pretrain_config, tmp_path):
    first = tmp_path / "first"
    run_pretraining(pretrain_config(*QUICK_EVAL), first)
    steps_one_epoch = steps_in(first / "checkpoints" / "last.ckpt")
    assert steps_one_epoch == 1437 // 64  # digits train split, drop_last
    second = tmp_path / "second"
    run_pretraining(pretrain_config(*QUICK_EVAL, "epochs=2", f"resume={first}"), second)
    assert steps_in(second / "checkpoints" / "last.ckpt") == 2 * steps_one_epoch


def test_resume_rejects_non_checkpoint_and_other_architecture(pretrain_config, tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a readable checkpoint"):
        run_pretraining(pretrain_config(f"resume={junk}"), tmp_path / "a")
    other = tmp_path / "other.ckpt"
    other_cfg = {"model": {"backbone": "resnet50"}}
    state = {"backbone.fc.weight": torch.zeros(3)}
    torch.save({"state_dict": state, "hyper_parameters": {"cfg": other_cfg}}, other)
    with pytest.raises(CheckpointError, match="another architecture \\(backbone 'resnet50'\\)"):
        run_pretraining(pretrain_config(f"resume={other}"), tmp_path / "b")
    with pytest.raises(CheckpointError, match="does not exist"):
        run_pretraining(pretrain_config(f"resume={tmp_path / 'missing'}"), tmp_path / "c")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss.temperature=0", "loss.temperature must be > 0"),
        ("optim.batch_size=0", "optim.batch_size must be > 0"),
        ("optim.base_lr=-1", "optim.base_lr must be > 0"),
        ("optim.base_lr=inf", "optim.base_lr must be > 0 and finite, got inf"),
        ("loss.temperature=nan", "loss.temperature must be > 0 and finite"),
        ("epochs=0", "epochs must be > 0 and finite"),
        ("eval.every_n_epochs=0", "eval.every_n_epochs must be > 0"),
        ("data.views.crop_scale=[0.5]", "crop_scale is \\[min, max\\], got \\[0.5\\]"),
        ("data.views.hflip=1.5", "data.views.hflip must be a number in \\[0, 1\\], got 1.5"),
        ("optim.name=adamx", "unknown optimiser 'adamx'"),
        ("optim.momentum=null", "optim=sgd needs a momentum"),
        ("model.backbone=resnet19", "unknown backbone 'resnet19'"),
        ("model.small_images=maybe", "model.small_images must be true, false or auto"),
    ],
)
def test_bad_config_values_fail_with_one_line(pretrain_config, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        run_pretraining(pretrain_config(override), tmp_path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss.temperature=abc", "Value 'abc' of type 'str' could not be converted to Float"),
        ("epochs=abc", "Value 'abc' of type 'str' could not be converted to Integer"),
        ("data.views.crop_scale=[a,b]", "Value 'a' of type 'str' could not be converted"),
        ("eval.linear=maybe", "Value 'maybe' is not a valid bool"),
        ("optim.lrr=1", "Key 'lrr' not in 'OptimConfig'"),
        ("loss.alpha=0.5", "Key 'alpha' not in 'LossConfig'"),  # infonce has no alpha
    ],
)
def test_wrong_types_and_keys_fail_at_composition(pretrain_config, override, message):
    """Each group's dataclass is the schema of its YAML files: Hydra refuses these."""
    with pytest.raises(ConfigCompositionException) as refused:
        pretrain_config(override)
    assert message in str(refused.value.__cause__)


def test_cli_prints_one_line_error_and_exits_2(tmp_path):
    cmd = [sys.executable, "-m", "ssl_app.pretrain", "model.backbone=resnet19"]
    cmd.append(f"hydra.run.dir={tmp_path}")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: unknown backbone 'resnet19'")
    assert "Traceback" not in proc.stderr


def test_ema_update_hand_computed():
    target, online = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    for module, value in ((target, 1.0), (online, 3.0)):
        torch.nn.init.constant_(module.weight, value)
        torch.nn.init.constant_(module.bias, value)
    ema_update(target, online, momentum=0.75)
    assert torch.allclose(target.weight, torch.full((1, 2), 1.5))  # 0.75·1 + 0.25·3


@pytest.mark.slow
@pytest.mark.parametrize(
    "loss", ["debiased", "hard_negative", "decoupled", "clip", "nce", "soft_target"]
)
def test_every_loss_trains_through_pretrain(pretrain_config, tmp_path, loss):
    extra = ["loss.source=target", "model.ema.enabled=true"] if loss == "soft_target" else []
    cfg = pretrain_config(f"loss={loss}", *extra, *QUICK_EVAL, "eval.every_n_epochs=1000")
    results = run_pretraining(cfg, tmp_path)
    with open(tmp_path / "metrics.csv") as f:
        losses = [float(row["train/loss"]) for row in csv.DictReader(f) if row["train/loss"]]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    assert results["rows"]["learned"]["knn_top1"] > 0.2  # well above 10 % chance after one epoch


def test_resume_rejects_another_optimiser(pretrain_config, tmp_path):
    module_state = {"backbone.w": torch.zeros(2)}
    ckpt = tmp_path / "sgd.ckpt"
    cfg = {"model": {"backbone": "test_resnet"}, "optim": {"name": "sgd"}}
    torch.save({"state_dict": module_state, "hyper_parameters": {"cfg": cfg}}, ckpt)
    found = find_resume_checkpoint(str(ckpt), tmp_path, tmp_path)
    with pytest.raises(CheckpointError, match="trained with optim=sgd, this run uses optim=adamw"):
        check_resume_checkpoint(found, module_state, "adamw")
    check_resume_checkpoint(found, module_state, "sgd")  # the same optimiser passes


def test_sync_bn_on_cpu_is_refused(pretrain_config, tmp_path):
    cfg = pretrain_config("trainer=ddp_cpu", "trainer.sync_batchnorm=true")
    with pytest.raises(ConfigError, match="sync_bn=true needs GPUs"):
        run_pretraining(cfg, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compile_views"])
def test_device_views_train_end_to_end_on_cpu_tensors(pretrain_config, tmp_path, compiled):
    """`data.augment=gpu`: index batches, both views made in one batched pass (here on CPU),
    eager or torch.compile'd (`data.compile_views`)."""
    overrides = ("data.augment=gpu", f"data.compile_views={compiled}", *QUICK_EVAL)
    cfg = pretrain_config(*overrides, "eval.every_n_epochs=1000")
    results = run_pretraining(cfg, tmp_path)
    assert steps_in(tmp_path / "checkpoints" / "last.ckpt") == 1437 // 64
    assert results["rows"]["learned"]["knn_top1"] > 0.2  # well above 10 % chance after one epoch


def test_loss_runs_in_float32_under_bf16_autocast(pretrain_config):
    from ssl_app.pretrain import build_components

    module, _, _ = build_components(pretrain_config())
    seen = []
    original = module.loss.with_stats

    def spy(z1, z2, *args, **kwargs):
        seen.append((z1.dtype, torch.is_autocast_enabled("cpu")))
        return original(z1, z2, *args, **kwargs)

    module.loss.with_stats = spy
    views = torch.randn(2, 4, 1, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        module.contrastive_step(views[0], views[1])
    assert seen == [(torch.float32, False)]


@pytest.mark.slow
def test_diverged_run_stops_with_exit_2_and_keeps_the_good_checkpoint(pretrain_config, tmp_path):
    """Epoch 1 trains at a sane lr and saves last.ckpt; then the lr explodes: the run stops
    with DivergedError and last.ckpt still holds the finite epoch-1 weights."""
    from ssl_app.errors import DivergedError

    cfg = pretrain_config(*QUICK_EVAL, "epochs=2", "eval.every_n_epochs=1000")
    explode = ExplodeAfterEpoch()
    with pytest.raises(DivergedError, match="inf/nan by step"):
        run_pretraining(cfg, tmp_path, extra_callbacks=[explode])
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 1437 // 64
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


class ExplodeAfterEpoch(pl.Callback):
    """From the second epoch on, scale the lr to 1e12 (the weights go inf/nan within steps)."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            scheduler = trainer.lr_scheduler_configs[0].scheduler
            scheduler.base_lrs = [1e12 for _ in scheduler.base_lrs]
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = 1e12


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_a_resumable_checkpoint_and_exits_non_zero(tmp_path, sig, code):
    """What `docker stop` / `scancel` (SIGTERM) and Ctrl-C (SIGINT) do to a run."""
    cmd = [sys.executable, "-m", "ssl_app.pretrain", *TINY_RUN, "epochs=100"]
    cmd += ["eval.every_n_epochs=1000", f"hydra.run.dir={tmp_path}"]
    # A background job (nohup, `cmd &`) starts with SIGINT ignored; a run started by hand does not.
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint
    )
    last = tmp_path / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.is_file() and time.monotonic() < deadline:  # the end of epoch 1
        time.sleep(0.2)
    time.sleep(2.0)  # into epoch 2
    signalled = time.time()
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, output[-2000:]
    assert "resumable checkpoint" in output
    assert last.stat().st_mtime >= signalled  # written at the signal, not left from epoch 1
    assert steps_in(last) >= 1437 // 64


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_gpu_trainer_without_a_gpu_is_one_line(pretrain_config, tmp_path):
    with pytest.raises(ConfigError, match="trainer=gpu but no CUDA GPU is visible"):
        run_pretraining(pretrain_config("trainer=gpu"), tmp_path)


def test_vit_follows_the_data_image_size(pretrain_config):
    cfg = pretrain_config("model=vit_small")
    assert cfg.model.timm_kwargs.img_size == cfg.data.image_size == 16


@pytest.mark.slow
def test_resume_in_place_keeps_the_metrics_rows(pretrain_config, tmp_path):
    """Resuming into the same run directory (resume=auto, a requeued job) appends to metrics.csv:
    the same steps as one uninterrupted run, none lost, none twice."""
    quick = [*QUICK_EVAL, "eval.every_n_epochs=1"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run_pretraining(pretrain_config(*quick, "epochs=2"), whole)
    run_pretraining(pretrain_config(*quick, "epochs=2", "+trainer.max_steps=22"), parts)
    header = (parts / "metrics.csv").read_text().splitlines()[0].split(",")
    late_row = ",".join("999" if key == "step" else "" for key in header)  # after the checkpoint
    (parts / "metrics.csv").write_text((parts / "metrics.csv").read_text() + late_row + "\n")
    run_pretraining(pretrain_config(*quick, "epochs=2", "resume=auto"), parts)
    assert logged_steps(parts) == logged_steps(whole)


def logged_steps(run_dir) -> list[int]:
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    return [int(row.split(",")[header.index("step")]) for row in rows[1:]]


@pytest.mark.slow
def test_resume_true_continues_the_newest_run_in_its_directory(tmp_path):
    """`ssl-pretrain resume=true` continues outputs/pretrain/<newest> in place (with a note on
    the changed epochs), and the fresh directory Hydra made for the call is removed."""
    root = tmp_path / "outputs"
    first, second = root / "run-1", root / "run-2"
    base = [sys.executable, "-m", "ssl_app.pretrain", *TINY_RUN, *QUICK_EVAL]
    subprocess.run([*base, f"hydra.run.dir={first}"], check=True, capture_output=True)
    done = subprocess.run(
        [*base, "epochs=2", "resume=true", f"hydra.run.dir={second}"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"in {first}" in done.stdout and "planned for epochs=1" in done.stdout
    assert not second.exists()
    assert steps_in(first / "checkpoints" / "last.ckpt") == 2 * (1437 // 64)


@pytest.mark.slow
def test_how_often_the_monitors_run_does_not_change_training(pretrain_config, tmp_path):
    """kNN monitor and linear probe after every epoch, or only after the last: same weights
    (evaluation loaders draw seeds from the global random state, which the monitors restore)."""
    weights = []
    for every in (1, 1000):
        overrides = [
            *QUICK_EVAL,
            "epochs=2",
            f"eval.every_n_epochs={every}",
            "eval.final_table=false",
        ]
        run_pretraining(pretrain_config(*overrides), tmp_path / str(every))
        last = tmp_path / str(every) / "checkpoints" / "last.ckpt"
        weights.append(torch.load(last, weights_only=True)["state_dict"])
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
