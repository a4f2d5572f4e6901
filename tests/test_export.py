"""Export → timm / load_backbone → identical features; strict loading with clear errors."""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import pytest
import timm
import torch
from conftest import make_checkpoint
from PIL import Image
from timm.data import create_transform, resolve_data_config

from ssl_app.data import DatasetInfo, build_eval_transform, dataset_info
from ssl_app.data.views import eval_preprocessing
from ssl_app.errors import CheckpointError, ConfigError
from ssl_app.export import export_checkpoint, main, parse_args
from ssl_app.models import create_backbone, load_backbone
from ssl_app.models.checkpoint import backbone_from_checkpoint, load_state_strict, read_checkpoint


def features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def test_stock_architecture_loads_with_plain_timm(tmp_path):
    model = make_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    main([f"run_dir={tmp_path / 'run'}"])
    weights = tmp_path / "run" / "export" / "model.safetensors"
    config = json.loads((weights.parent / "config.json").read_text())
    assert config["architecture"] == "test_resnet" and config["timm_loadable"]
    assert config["pretrained_cfg"]["input_size"] == [1, 32, 32]
    assert len(config["config_hash"]) == 16
    loaded = timm.create_model(
        "test_resnet",
        pretrained=True,
        pretrained_cfg_overlay=dict(file=str(weights)),
        num_classes=0,
        in_chans=1,
    )
    x = torch.randn(3, 1, 32, 32)
    assert (features(loaded, x) - features(model, x)).abs().max() < 1e-5
    assert (features(load_backbone(weights.parent), x) - features(model, x)).abs().max() < 1e-5


def test_small_image_stem_loads_with_load_backbone(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    model = make_checkpoint(ckpt, "resnet18", small_images=True)
    weights = export_checkpoint(ckpt, tmp_path / "out")
    loaded = load_backbone(weights)
    assert loaded.conv1.kernel_size == (3, 3) and loaded.conv1.stride == (1, 1)
    x = torch.randn(2, 1, 32, 32)
    assert (features(loaded, x) - features(model, x)).abs().max() < 1e-5
    by_name = load_backbone(f"local-dir:{tmp_path / 'out'}")
    assert (features(by_name, x) - features(model, x)).abs().max() < 1e-5
    assert not json.loads((tmp_path / "out" / "config.json").read_text())["timm_loadable"]
    plain = create_backbone("resnet18", in_chans=1)
    with pytest.raises(CheckpointError, match=r"shape: conv1\.weight"):
        load_state_strict(plain, loaded.state_dict(), "weights")


def test_checkpoint_of_another_architecture_names_the_keys(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    make_checkpoint(ckpt)
    raw = torch.load(ckpt, weights_only=True)
    raw["hyper_parameters"]["cfg"]["model"]["backbone"] = "resnet18"
    torch.save(raw, ckpt)
    with pytest.raises(CheckpointError, match="missing: .*unexpected: "):
        backbone_from_checkpoint(ckpt)


@pytest.mark.parametrize(
    "content,match",
    [
        (None, "does not exist"),
        (b"not a checkpoint at all", "not a readable checkpoint"),
        ("plain-dict", "not an ssl-pretrain checkpoint"),
    ],
)
def test_bad_checkpoint_files(tmp_path, content, match):
    path = tmp_path / "x.ckpt"
    if content == "plain-dict":
        torch.save({"weights": torch.zeros(2)}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        read_checkpoint(path)


def test_weights_without_json_and_bad_arguments(tmp_path, capsys):
    ckpt = tmp_path / "last.ckpt"
    make_checkpoint(ckpt)
    weights = export_checkpoint(ckpt, tmp_path / "out")
    (weights.parent / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json beside it"):
        load_backbone(weights)
    with pytest.raises(ConfigError, match="unknown argument 'outdir=x'"):
        parse_args([f"checkpoint={ckpt}", "outdir=x"])
    with pytest.raises(SystemExit):
        main([f"run_dir={tmp_path / 'nothing'}"])
    assert "has no checkpoints/last.ckpt" in capsys.readouterr().err


def test_diverged_weights_are_refused(tmp_path):
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    make_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=True)
    key = next(k for k in saved["state_dict"] if k.startswith("backbone.") and "weight" in k)
    saved["state_dict"][key] = torch.full_like(saved["state_dict"][key], float("nan"))
    torch.save(saved, ckpt)
    with pytest.raises(CheckpointError, match="holds inf/nan weights"):
        backbone_from_checkpoint(ckpt)


def test_help_and_unwritable_output_answer_in_one_line(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("usage: ssl-export")
    make_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / "model.safetensors"))

    monkeypatch.setattr("ssl_app.export.export_backbone", read_only)
    with pytest.raises(SystemExit) as done:
        main([f"run_dir={tmp_path / 'run'}", f"out={tmp_path / 'ro'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1
    assert err[0].startswith("error: cannot write") and "Permission denied" in err[0]


DIGITS = dataset_info("digits")


def test_timm_local_dir_round_trip_keeps_features_and_preprocessing(tmp_path):
    model = make_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    main([f"run_dir={tmp_path / 'run'}"])
    out = tmp_path / "run" / "export"
    loaded = timm.create_model(f"local-dir:{out}", pretrained=True)
    x = torch.randn(3, 1, 32, 32)
    assert (features(loaded, x) - features(model, x)).abs().max() < 1e-5
    assert (features(load_backbone(f"local-dir:{out}"), x) - features(model, x)).abs().max() < 1e-5
    data_config = resolve_data_config({}, model=loaded)
    assert data_config["input_size"] == (1, 32, 32)
    assert data_config["mean"] == pytest.approx(DIGITS.mean)
    assert data_config["std"] == pytest.approx(DIGITS.std)
    assert (data_config["interpolation"], data_config["crop_pct"]) == ("bilinear", 1.0)


FOLDER = DatasetInfo("imagefolder", 3, None, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), None)


@pytest.mark.parametrize("info,shape", [(DIGITS, (1, 32, 32)), (FOLDER, (3, 50, 41))])
def test_timm_transform_matches_the_eval_transform(info, shape):
    """timm's transform from the export's config gives the eval input (to 1 grey level): as is
    at the native size, resized by 1 / crop_pct and centre-cropped for images of any size."""
    image = torch.randint(0, 256, shape, dtype=torch.uint8)
    ours = build_eval_transform(32, info)(image)
    pil = Image.fromarray(image.permute(1, 2, 0).squeeze(-1).numpy())
    theirs = create_transform(**eval_preprocessing(32, info))(pil)
    assert theirs.shape == ours.shape == (shape[0], 32, 32)
    assert (theirs - ours).abs().max() <= 1.01 / 255 / min(info.std)


class StandInHub:
    """huggingface_hub's upload and download calls, served from a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create_repo(self, repo_id: str, exist_ok: bool = False) -> types.SimpleNamespace:
        (self.root / repo_id).mkdir(parents=True, exist_ok=exist_ok)
        return types.SimpleNamespace(repo_id=repo_id, __str__=lambda: repo_id)

    def upload_folder(self, repo_id: str, folder_path: Path, commit_message: str) -> None:
        shutil.copytree(folder_path, self.root / repo_id, dirs_exist_ok=True)

    def download(self, repo_id: str, filename: str, revision=None, cache_dir=None) -> str:
        path = self.root / repo_id / filename
        if not path.is_file():
            raise FileNotFoundError(2, "not on the stand-in hub", str(path))
        return str(path)


def test_push_to_hub_then_load_from_hub(tmp_path, monkeypatch, capsys):
    hub = StandInHub(tmp_path / "hub")
    monkeypatch.setattr("ssl_app.models.exported.HfApi", lambda: hub)
    monkeypatch.setattr("ssl_app.models.exported.hf_hub_download", hub.download)
    monkeypatch.setattr("timm.models._hub.hf_hub_download", hub.download)
    model = make_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    main([f"run_dir={tmp_path / 'run'}", "push_to_hub=me/simclr-digits"])
    assert "published" in capsys.readouterr().out
    published = sorted(p.name for p in (tmp_path / "hub" / "me" / "simclr-digits").iterdir())
    assert published == ["config.json", "model.safetensors"]
    x = torch.randn(2, 1, 32, 32)
    for loaded in (
        load_backbone("hf-hub:me/simclr-digits"),
        timm.create_model("hf-hub:me/simclr-digits", pretrained=True),
    ):
        assert (features(loaded, x) - features(model, x)).abs().max() < 1e-5
        assert resolve_data_config({}, model=loaded)["input_size"] == (1, 32, 32)
    with pytest.raises(CheckpointError, match="cannot download hf-hub:me/nothing"):
        load_backbone("hf-hub:me/nothing")


def test_push_without_network_answers_in_one_line(tmp_path, monkeypatch, capsys):
    class Offline:
        def create_repo(self, *args, **kwargs):
            raise OSError("Name or service not known")

    monkeypatch.setattr("ssl_app.models.exported.HfApi", Offline)
    make_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    with pytest.raises(SystemExit) as done:
        main([f"run_dir={tmp_path / 'run'}", "push_to_hub=me/x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and "cannot publish to hf-hub:me/x" in err[0]
