"""scripts/plot_neighbours.py: the neighbours and frame colours of the README's picture against a
hand-computed answer on unit vectors at known angles, the seeded query draw, the figure's frames
and counts, and one tiny end-to-end run through `ssl-embed`'s files."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_checkpoint
from matplotlib.colors import to_rgba

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "plot_neighbours.py"
GREEN, RED = "tab:green", "tab:red"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("plot_neighbours", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def at(*degrees: float) -> torch.Tensor:
    """Unit vectors in the plane: their inner product is the cosine of the angle between."""
    rad = torch.tensor(degrees) * math.pi / 180
    return torch.stack([rad.cos(), rad.sin()], dim=1)


BANK = at(0, 10, 45, 90, 180, 270)
BANK_LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
# 3 deg: 0 (3 away), 10 (7), 45 (42); 100 deg: 90 (10), 45 (55), 180 (80); 200 deg: 180, 270, 90.
QUERIES, QUERY_LABELS = at(3, 100, 200), torch.tensor([0, 2, 2])
EXPECTED = [[0, 1, 2], [3, 2, 4], [4, 5, 3]]
EXPECTED_COLOURS = [[GREEN, GREEN, RED], [RED, RED, GREEN], [GREEN, GREEN, RED]]


def test_neighbours_and_frame_colours_match_the_hand_computed_answer(script):
    found = script.find_neighbours(BANK, BANK_LABELS, QUERIES, QUERY_LABELS, k=3)
    assert found.index.tolist() == EXPECTED
    expected_sims = [[math.cos(math.radians(a)) for a in row] for row in ([3, 7, 42], [10, 55, 80])]
    assert torch.allclose(found.sims[:2], torch.tensor(expected_sims), atol=1e-5)
    assert script.frame_colours(found.match) == EXPECTED_COLOURS
    assert found.matches == 5 and found.match.numel() == 9


def test_queries_are_a_fixed_seeded_draw(script):
    first = script.choose_queries(360, 8, seed=0)
    assert first.tolist() == script.choose_queries(360, 8, seed=0).tolist()
    assert first.tolist() == sorted(set(first.tolist())) and 0 <= first.min() <= first.max() < 360
    assert first.tolist() != script.choose_queries(360, 8, seed=1).tolist()
    assert script.choose_queries(5, 8, seed=0).tolist() == [0, 1, 2, 3, 4]


def tiny_split(script, learned: torch.Tensor, raw: torch.Tensor, labels: torch.Tensor):
    images = [
        (torch.full((1, 4, 4), 40 * i, dtype=torch.uint8), int(y)) for i, y in enumerate(labels)
    ]
    return script.Split(learned, raw, labels, images)


def test_each_panel_searches_its_own_features(script):
    """Learned: the hand-computed answer; raw pixels: the bank reversed, so other neighbours."""
    train = tiny_split(script, BANK, BANK.flip(0), BANK_LABELS)
    test = tiny_split(script, QUERIES, QUERIES, QUERY_LABELS)
    found = script.neighbours_by(train, test, torch.tensor([0, 1]), k=3)
    assert list(found) == ["learned features", "raw pixels"]
    assert found["learned features"].index.tolist() == EXPECTED[:2]
    assert found["raw pixels"].index.tolist() == [[5 - i for i in row] for row in EXPECTED[:2]]
    assert script.share_over_all(train, test, k=3)["learned features"] == pytest.approx(5 / 9)


def test_figure_frames_and_titles_follow_the_neighbours(script):
    train = tiny_split(script, BANK, BANK, BANK_LABELS)
    test = tiny_split(script, QUERIES, QUERIES, QUERY_LABELS)
    queries = torch.tensor([0, 1, 2])
    found = script.neighbours_by(train, test, queries, k=3)
    fig = script.neighbours_figure((train, test), queries, found, ["a", "b", "c"], "tiny")
    for panel in fig.subfigs:
        assert panel._suptitle.get_text().endswith("5 of 9 neighbours share the query's label")
        axes = np.array(panel.axes).reshape(3, 5)  # query, gap, 3 neighbours
        for row, colours in enumerate(EXPECTED_COLOURS):
            assert axes[row, 0].spines["top"].get_edgecolor() == to_rgba(script.QUERY)
            drawn = [ax.spines["left"].get_edgecolor() for ax in axes[row, 2:]]
            assert drawn == [to_rgba(c) for c in colours]
            shown = [ax.get_images()[0].get_array()[0, 0] for ax in axes[row, 2:]]
            assert shown == [40 * i for i in EXPECTED[row]]


def test_overrides_the_script_sets_are_refused(script, capsys):
    with pytest.raises(SystemExit):
        script.parse_args(["run_dir=x", "split=test"])
    assert "sets split=" in capsys.readouterr().err


def test_end_to_end_uses_ssl_embed_files(script, tmp_path):
    """A tiny untrained digits checkpoint: the learned panel is the neighbours of the test rows
    of `embeddings.npy` among the train rows, as ssl-embed wrote them."""
    make_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    out, emb = tmp_path / "n.png", tmp_path / "emb"
    args = [f"run_dir={tmp_path / 'run'}", "data=digits", "device=cpu", "progress=false"]
    args += ["--out", str(out)]
    found = script.main([*args, "--embed-dir", str(emb), "--queries", "3", "--k", "4"])
    train, test = (torch.from_numpy(np.load(emb / s / "embeddings.npy")) for s in ("train", "test"))
    queries = script.choose_queries(len(test), 3, seed=0)
    sims, index = (test[queries] @ train.T).topk(4, dim=1)
    assert torch.allclose(found["learned features"].sims, sims, atol=1e-5)
    assert found["learned features"].index.tolist() == index.tolist()
    assert out.stat().st_size > 0
