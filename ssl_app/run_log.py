"""The log of a command: our messages, Lightning's info lines and Python warnings as plain lines
on the console and in the run's log file (`pretrain.log`, `evaluate.log`), with the known
third-party noise filtered by name, here and nowhere else."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ssl_app.progress import LOG

# Warnings of other libraries that say nothing a user can act on: (message regex, category).
NOISY_WARNINGS = (
    # Lightning 2.6's pytree helper builds torch's deprecated LeafSpec on every training step.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
)
# Log lines of other libraries dropped by their first words.
NOISY_LINES = (
    "💡 Tip: For seamless cloud logging",  # Lightning's advert for litlogger, on every run
)
# Loggers whose lines join ours: Lightning's (which print to stderr on their own otherwise).
JOINED = ("pytorch_lightning", "lightning_fabric")
FILE_FORMAT = "%(asctime)s %(message)s"
WARNINGS = LOG.getChild("warnings")


class DropNoise(logging.Filter):
    """Drops the records whose message starts with one of NOISY_LINES."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(NOISY_LINES)


DROP_NOISE = DropNoise()


class _File:
    """The log file handler of this process, if any."""

    handler: logging.FileHandler | None = None


def _loggers() -> list[logging.Logger]:
    return [LOG, *(logging.getLogger(name) for name in JOINED)]


def start(log_file: Path | None = None, info: bool = True) -> None:
    """Route Lightning's lines and Python's warnings through our console handler, without the
    noise; with `log_file`, also append every line to it (instead of an earlier file).
    `info=False` (ranks other than 0) keeps our info lines back, warnings and errors not."""
    quiet_warnings()
    warnings.showwarning = show_warning
    LOG.setLevel(logging.INFO if info else logging.WARNING)
    console = [h for h in LOG.handlers if h is not _File.handler]
    for handler in console:
        handler.addFilter(DROP_NOISE)
    for logger in _loggers()[1:]:
        logger.handlers, logger.propagate = list(console), False
        logger.setLevel(logging.INFO)
    _use_file(log_file)


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """A warning as one logged line `file:line: Category: message` (no source line)."""
    WARNINGS.warning(f"{filename}:{lineno}: {category.__name__}: {message}")


def quiet_warnings() -> None:
    """Ignore the NOISY_WARNINGS (by message and category; every other warning still shows)."""
    for pattern, category in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)


def _use_file(path: Path | None) -> None:
    """Log to `path` from now on (appending), and no longer to the previous file, if any."""
    if _File.handler is not None:
        for logger in _loggers():
            logger.removeHandler(_File.handler)
        _File.handler.close()
        _File.handler = None
    if path is not None:
        _File.handler = _file_handler(path)
        for logger in _loggers():
            logger.addHandler(_File.handler)


def _file_handler(path: Path) -> logging.FileHandler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(DROP_NOISE)
    return handler
