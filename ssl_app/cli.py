"""Hydra entry points that answer Hydra's own composition errors like every other user error:
one line on stderr and exit code 2 (a key typo such as `optim.batchsize=64`, a value of the
wrong type such as `optim.batch_size=abc`, an unknown option such as `data=digitz`), instead of
Hydra's several lines and exit code 1."""

from __future__ import annotations

import sys
from collections.abc import Callable

from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException


def one_line(err: Exception, limit: int = 300) -> str:
    """Hydra's message on one line: its lines joined (the options it lists included), without
    the config search path, then the first line of its cause (a schema's type check: "Value
    'abc' of type 'str' could not be converted to Integer"), cut at `limit` characters."""
    text = " ".join(str(err).split("Config search path")[0].split())
    if err.__cause__ is not None and str(err.__cause__):
        text += f": {str(err.__cause__).splitlines()[0]}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_overrides(config_name: str, overrides: list[str]) -> None:
    """Compose `config_name` with `overrides` once; a composition error, or a key left `???`
    (a group's shared `_base` keys picked as an option, `model=_base`), exits 2 in one line."""
    try:
        with initialize_config_module("ssl_app.conf", version_base=None):
            cfg = compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        hint = "a group's _base holds its shared keys and is not an option"
        print(
            f"error: no value for {', '.join(missing)}; set {missing[0]}=... ({hint})",
            file=sys.stderr,
        )
        raise SystemExit(2)


def hydra_entry(config_name: str, hydra_main: Callable[[], None]) -> Callable[[], None]:
    """`hydra_main` (a `@hydra.main` function) behind a check of the command line's overrides;
    runs with Hydra flags (`--multirun`, `--help`, `--cfg`, ...) go to Hydra unchecked."""

    def main() -> None:
        arguments = sys.argv[1:]
        if not any(arg.startswith("-") for arg in arguments):
            check_overrides(config_name, arguments)
        hydra_main()

    return main
