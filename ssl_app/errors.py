"""User-facing errors: one line that says what is wrong and what to do.

Entry points catch `SslAppError` and print its message instead of a traceback.
"""

from __future__ import annotations

import errno
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from typing import TypeVar

from ssl_app.progress import LOG

T = TypeVar("T")


UNWRITABLE = (
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EEXIST,
    errno.ENOTDIR,
)


class SslAppError(Exception):
    """Base class of errors whose message is meant for the user, not a traceback."""


class ConfigError(SslAppError, ValueError):
    """A configuration value is invalid (unknown name, out of range, ...)."""


class DataError(SslAppError):
    """A data set is missing, empty, corrupt or lacks what is needed (e.g. labels)."""


class CheckpointError(SslAppError):
    """A checkpoint or weights file is missing, unreadable or of another architecture."""


class DivergedError(SslAppError):
    """Training produced a non-finite loss; the last good checkpoint is left as it was."""


def require_positive(name: str, value: float) -> None:
    """Raise ConfigError unless `value` is a finite number > 0 (temperatures, batch sizes,
    learning rates); strings, booleans, inf and nan are refused too."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value > 0):
        raise ConfigError(
            f"{name} must be > 0 and finite, got {value!r}; set {name}=<positive number>"
        )


def require_unit_interval(name: str, value: float) -> None:
    """Raise ConfigError unless `value` is a number in [0, 1] (probabilities, momenta, mixing
    weights); strings, booleans and nan are refused too."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (number and 0 <= value <= 1):
        raise ConfigError(
            f"{name} must be a number in [0, 1], got {value!r}; set {name}=<number from 0 to 1>"
        )


def require_known_keys(keys: Iterable[str], fn: Callable, where: str, skip=("self",)) -> None:
    """Raise ConfigError naming the keys that `fn` takes no keyword argument for."""
    params = inspect.signature(fn).parameters.values()
    known = [p.name for p in params if p.name not in skip and p.kind != p.VAR_KEYWORD]
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise ConfigError(f"unknown {where} key(s) {unknown}; known: {', '.join(known)}")


def exit_on_user_error(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator for entry points: an `SslAppError`, or an output that cannot be written (read-only,
    no permission, disk full), prints `error: <message>` (stderr and the run's log) and exits 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SslAppError as err:
            LOG.error(f"error: {err}")
            raise SystemExit(2) from None
        except OSError as err:
            if err.errno not in UNWRITABLE:
                raise
            LOG.error(
                f"error: cannot write {err.filename or ''}: {err.strerror}; "
                "choose a writable place (out=, hydra.run.dir=, cache_dir=)"
            )
            raise SystemExit(2) from None

    return wrapper
