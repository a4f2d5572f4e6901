"""Per-data-set recipes: `data=<name>` brings its optimiser recipe (conf/optim/<name>.yaml) and
the user's overrides always win."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import config_files
from hydra import compose, initialize_config_module

from ssl_app.data import dataset_info
from ssl_app.pretrain import wants_small_stem


def pretrain(*overrides: str):
    with initialize_config_module("ssl_app.conf", version_base=None):
        return compose("pretrain", overrides=list(overrides))


@pytest.mark.parametrize("path", config_files("data"), ids=lambda p: p.stem)
def test_every_data_set_has_a_recipe_that_composes(path):
    cfg = pretrain(f"data={path.stem}")
    assert cfg.optim.name in ("sgd", "adamw", "lars")
    assert cfg.epochs == cfg.optim.epochs > 0


def test_digits_recipe_is_the_validated_one():
    cfg = pretrain()
    assert (cfg.optim.name, cfg.optim.batch_size, cfg.optim.base_lr) == ("sgd", 128, 0.3)
    assert cfg.epochs == 100 and cfg.loss.temperature == 0.2
    assert "batch_size" not in cfg.data  # one batch size: the data loader takes the optimiser's
    assert cfg.data.image_size == 16 and cfg.model.small_images == "auto"  # -> the stock stem


def test_cifar_recipe_is_solo_learns_lars():
    cfg = pretrain("data=cifar10")
    assert (cfg.optim.name, cfg.optim.base_lr, cfg.optim.weight_decay) == ("lars", 0.4, 1e-5)
    assert cfg.epochs == 1000


def test_user_overrides_win_over_the_recipe():
    cfg = pretrain("optim=adamw")
    assert (cfg.optim.name, cfg.optim.base_lr, cfg.epochs) == ("adamw", 2e-3, 30)
    cfg = pretrain("optim.base_lr=0.1", "epochs=3", "loss.temperature=0.5")
    assert (cfg.optim.base_lr, cfg.epochs, cfg.loss.temperature) == (0.1, 3, 0.5)
    assert cfg.optim.name == "sgd"


@pytest.mark.parametrize(
    ("data", "image_size", "small"),
    [("digits", 16, False), ("digits", 32, False), ("fashion_mnist", 28, True),
     ("cifar10", 32, True), ("stl10", 96, False)],
)  # fmt: skip
def test_small_stem_only_where_the_stock_stem_would_lose_detail(data, image_size, small):
    info = dataset_info(data, None)
    assert wants_small_stem("resnet18", image_size, info) is small
    assert wants_small_stem("vit_small_patch16_224", image_size, info) is False


def readme_pretrain_commands() -> list[list[str]]:
    """The overrides of every single-run `ssl-pretrain` command in the README's bash blocks
    (continuation lines joined, comments and `...` placeholders dropped)."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split("#")[0])
            if words[:1] == ["ssl-pretrain"] or words[:3] == ["python", "-m", "ssl_app.pretrain"]:
                overrides = words[1 if words[0] == "ssl-pretrain" else 3 :]
                if "--multirun" not in overrides and "..." not in overrides:
                    commands.append(overrides)
    return commands


def test_readme_commands_compose():
    commands = readme_pretrain_commands()
    assert len(commands) >= 6  # the parser still finds them
    for overrides in commands:
        pretrain(*overrides)  # a stale key or value fails here
