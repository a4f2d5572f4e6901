"""What every command shows while it works: plain message lines, one timed line per phase, and
progress bars (rich) for the loops in between.

Messages go through the `ssl_app` logger, so the run's log file (see `run_log.py`) gets the same
lines as the terminal; bars are drawn on the terminal only (never in a pipe or a log file) and
nested loops stack as rows of one display, inside Lightning's training bar too.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import rich
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")

LOG = logging.getLogger("ssl_app")
CONSOLE: Console = rich.get_console()  # the console Lightning's RichProgressBar draws on too
LOG_WIDTH = 120  # characters of the tables in the log file


class ConsoleHandler(logging.StreamHandler):
    """Plain lines: info on the current `sys.stdout`, warnings and errors on `sys.stderr` (looked
    up per line, so pytest's capture and rich's live display, which redirect them, both work)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))
        self.addFilter(lambda record: getattr(record, "console", True))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        super().emit(record)


if not any(isinstance(h, ConsoleHandler) for h in LOG.handlers):
    LOG.addHandler(ConsoleHandler())
    LOG.setLevel(logging.INFO)
    LOG.propagate = False  # whatever the root logger prints (Hydra's job logging) is not ours


def say(message: str) -> None:
    """One line for the user: on stdout and in the run's log."""
    LOG.info(message)


def show(renderable: RenderableType) -> None:
    """A rich renderable (a table) on the console, and as plain text in the run's log."""
    CONSOLE.print(renderable)
    plain = Console(file=io.StringIO(), width=LOG_WIDTH, color_system=None, force_terminal=False)
    plain.print(renderable)
    LOG.info(plain.file.getvalue().rstrip("\n"), extra={"console": False})


def seconds_text(seconds: float) -> str:
    """`1.2 s`, `2 min 05 s`, `1 h 02 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@contextmanager
def phase(name: str, *details: str) -> Iterator[list[str]]:
    """Time a phase; when it ends well, one line `✓ name: details, 1.2 s`. Yields the list of
    details, to which the phase adds what it learnt on the way (e.g. `360 images`)."""
    found = list(details)
    start = time.perf_counter()
    yield found
    head = f"{name}: {found[0]}" if found else name
    say(f"✓ {', '.join([head, *found[1:], seconds_text(time.perf_counter() - start)])}")


class _Bars:
    """The one progress display of the process: on or off, and the live one, if any."""

    enabled = True
    live: Progress | None = None


def show_bars(enabled: bool) -> None:
    """Progress bars on or off for this process (off: tests and scripts; phase lines stay)."""
    _Bars.enabled = bool(enabled)


def _new_display() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=CONSOLE,
        transient=True,
    )


@contextmanager
def bar(description: str, total: int | None, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A progress row for a loop of `total` steps; yields `advance(status="")`, to call once per
    step; the row goes when the loop ends. Drawn on a terminal only, if `enabled` and bars on."""
    if not (enabled and _Bars.enabled and CONSOLE.is_terminal):
        yield lambda status="": None
        return
    owner = _Bars.live is None
    display = _Bars.live = _Bars.live or _new_display()
    if owner:
        display.start()
    task = display.add_task(description, total=total, status="")
    try:
        yield lambda status="": display.update(task, advance=1, status=status)
    finally:
        display.remove_task(task)
        if owner:
            display.stop()
            _Bars.live = None


def track(
    items: Iterable[T], description: str, total: int | None = None, enabled: bool = True
) -> Iterator[T]:
    """`items`, one progress step each (`total`: len(items) when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    with bar(description, total, enabled) as advance:
        for item in items:
            yield item
            advance()
