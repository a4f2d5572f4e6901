"""The progress display and the run log: phase lines, bars that stay quiet off a terminal or when
off, tables as plain text in the log file, third-party noise dropped by name."""

from __future__ import annotations

import logging
import re
import warnings

import pytest
from rich.table import Table

import ssl_app.progress as progress
from ssl_app import run_log
from ssl_app.errors import ConfigError
from ssl_app.eval.protocols import expand
from ssl_app.progress import phase, say, seconds_text, show, show_bars, track
from ssl_app.train.display import EpochBar

ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def log_file(tmp_path):
    """A run log in tmp_path, detached again after the test."""
    path = tmp_path / "run.log"
    run_log.start(path)
    yield path
    run_log.start(None)


def test_phase_line_names_what_ran_and_its_time(capsys):
    with phase("features", "learned / test") as details:
        details.append("360 images")
    with phase("training"):
        pass
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"✓ features: learned / test, 360 images, \d+\.\d s", lines[0])
    assert re.fullmatch(r"✓ training, \d+\.\d s", lines[1])


def test_no_phase_line_when_the_phase_fails(capsys):
    with pytest.raises(RuntimeError), phase("knn", "learned"):
        raise RuntimeError("boom")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("enabled", [True, False])
def test_phase_lines_print_with_bars_off_and_bars_draw_nothing_off_a_terminal(capsys, enabled):
    show_bars(enabled)
    try:
        with phase("sweep"):
            outer = [sum(track(range(3), "inner")) for _ in track(range(2), "outer")]
    finally:
        show_bars(True)
    assert outer == [3, 3]
    out = capsys.readouterr().out
    assert out.startswith("✓ sweep, ") and out.count("\n") == 1 and not ANSI.search(out)


def test_nested_bars_share_one_display(monkeypatch):
    """On a terminal the inner loop's row joins the outer's display (rich allows one live
    display per console); both rows go when their loops end."""
    monkeypatch.setattr(type(progress.CONSOLE), "is_terminal", property(lambda self: True))
    rows = []
    for _ in track(range(2), "outer"):
        for _ in track(range(2), "inner"):
            rows.append([task.description for task in progress._Bars.live.tasks])
    assert rows == [["outer", "inner"]] * 4 and progress._Bars.live is None


def test_seconds_text():
    assert [seconds_text(s) for s in (1.24, 125, 3720)] == ["1.2 s", "2 min 05 s", "1 h 02 min"]


def test_log_file_holds_lines_and_tables_as_plain_text(log_file, capsys):
    table = Table(title="tiny on digits")
    table.add_column("features")
    table.add_column("kNN top-1 (%)")
    table.add_row("learned", "73.1")
    say("run directory: /x")
    show(table)
    logging.getLogger("ssl_app").error("error: something")
    text = log_file.read_text()
    assert "run directory: /x" in text and "tiny on digits" in text
    assert "│ learned  │ 73.1          │" in text and "error: something" in text
    assert not ANSI.search(text)
    assert capsys.readouterr().err == "error: something\n"  # errors: stderr, one line


def test_noisy_lines_are_dropped_by_name_and_the_others_kept(log_file, capsys):
    lightning = logging.getLogger("pytorch_lightning.trainer.connectors.logger_connector")
    lightning.info("💡 Tip: For seamless cloud logging, try installing litlogger")
    lightning.info("GPU available: False, used: False")
    run_log.show_warning(UserWarning("a real one"), UserWarning, "data.py", 3)
    captured, text = capsys.readouterr(), log_file.read_text()
    assert "Tip" not in captured.out + text
    assert "GPU available" in captured.out and "GPU available" in text
    assert captured.err == "data.py:3: UserWarning: a real one\n" and "a real one" in text


def test_noisy_warnings_are_ignored_by_message_and_category():
    noise = "`isinstance(treespec, LeafSpec)` is deprecated, use ..."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_log.quiet_warnings()
        warnings.warn(noise, FutureWarning, stacklevel=1)
        warnings.warn(noise, UserWarning, stacklevel=1)  # the same text, another category
        warnings.warn("something else", FutureWarning, stacklevel=1)
    assert [(w.category, str(w.message)[:9]) for w in caught] == [
        (UserWarning, "`isinstan"),
        (FutureWarning, "something"),
    ]


def test_epoch_bar_counts_from_one_and_shows_lr_in_scientific_notation(monkeypatch):
    bar = EpochBar()
    trainer = type("Trainer", (), {"max_epochs": 3})
    monkeypatch.setattr(EpochBar, "trainer", property(lambda self: trainer))
    assert bar._get_train_description(0) == "epoch 1/3"
    metrics = {"lr": 0.000123, "train/loss": 4.2}
    monkeypatch.setattr(
        "pytorch_lightning.callbacks.RichProgressBar.get_metrics", lambda *a: dict(metrics)
    )
    assert bar.get_metrics(None, None) == {"lr": "1.2e-04", "train/loss": 4.2}


def test_epoch_bar_reads_metrics_at_most_once_a_second(monkeypatch):
    """Reading the logged tensors makes a GPU run wait: the bar rereads them once a second."""
    reads = []
    monkeypatch.setattr(
        "pytorch_lightning.callbacks.RichProgressBar.get_metrics",
        lambda *a: {"train/loss": float(len(reads.append(1) or reads))},
    )
    clock = iter([100.0, 100.0, 100.5, 101.2, 101.2])
    monkeypatch.setattr("ssl_app.train.display.time.monotonic", lambda: next(clock))
    bar = EpochBar()
    shown = [bar.get_metrics(None, None)["train/loss"] for _ in range(3)]
    assert shown == [1.0, 1.0, 2.0]  # the read at 100.5 s reuses the one from 100.0 s


def test_old_raw_protocol_says_where_it_went():
    moved = "unknown protocol 'raw'; choose one of: .*; raw pixels are now checkpoint=raw"
    with pytest.raises(ConfigError, match=moved):
        expand("raw", has_ood=False)
