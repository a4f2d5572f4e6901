"""Files are data, never code: a checkpoint's config that names callables (`_target_`) is
refused with one line and nothing it names is called."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import make_checkpoint
from hydra import compose, initialize_config_module

from ssl_app.data.config import DataConfig
from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.errors import ConfigError
from ssl_app.evaluate import evaluate

DIGITS = {"name": "digits", "image_size": 32, "num_workers": 0}


@pytest.fixture(scope="module")
def hydra_conf():
    with initialize_config_module("ssl_app.conf", version_base=None):
        yield


def malicious_data(victim: Path) -> list[tuple[dict, str]]:
    """Data configs an attacker could store in a checkpoint, with the refusal each gets."""
    opener = {"_target_": "builtins.open", "_args_": [str(victim), "w"]}
    return [
        (opener, "_target_ 'builtins.open'"),
        ({**DIGITS, "views": opener}, "unknown data.views key"),
        ({**DIGITS, "dataset_kwargs": opener}, "unknown data.dataset_kwargs key"),
        ({**DIGITS, "_args_": [str(victim), "w"]}, "unknown data key"),
    ]


@pytest.mark.parametrize("case", range(4))
def test_checkpoint_with_target_is_refused_and_calls_nothing(hydra_conf, tmp_path, case):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    data, refusal = malicious_data(victim)[case]
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    make_checkpoint(ckpt, data=data)
    cfg = compose("evaluate", overrides=[f"checkpoint={ckpt}", "cache_dir=null", "plots=false"])
    with pytest.raises(ConfigError, match=refusal):
        evaluate(cfg)
    assert victim.read_text() == "keep me"


def test_print_target_is_not_called(capsys):
    with pytest.raises(ConfigError, match="_target_ 'builtins.print'"):
        DataConfig.from_dict({"_target_": "builtins.print", "_args_": ["pwned"]})
    assert "pwned" not in capsys.readouterr().out


def test_configs_written_before_the_change_still_load():
    """Older run configs carried the module's own `_target_` and a `batch_size` of the data
    loader (now `optim.batch_size` alone); both are accepted and ignored."""
    own = "ssl_app.data.datamodule.ContrastiveDataModule"
    data = DataConfig.from_dict({"_target_": own, "batch_size": 8, **DIGITS})
    assert data == DataConfig(name="digits", image_size=32, num_workers=0)
    assert ContrastiveDataModule(data).info.name == "digits"


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        ({**DIGITS, "image_size": "big"}, "data.image_size: Value 'big'"),
        ({**DIGITS, "views": {"hflip": [1]}}, "data.views.hflip: Value '[1]'"),
        ({**DIGITS, "views": ["hflip"]}, "data.views must be a mapping"),
    ],
)
def test_stored_data_configs_are_typed_like_the_yaml_files(data, refusal):
    with pytest.raises(ConfigError, match=re.escape(refusal)):
        DataConfig.from_dict(data)
