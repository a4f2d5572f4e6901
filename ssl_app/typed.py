"""Typed configs from plain mappings (a checkpoint's run config, a test's dict), checked as Hydra
checks the YAML files at composition: an unknown key or a value of the wrong type is one line."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ssl_app.errors import ConfigError, require_known_keys

T = TypeVar("T")


def typed_config(cls: type[T], values: Mapping[str, Any], where: str) -> T:
    """`cls` (a config dataclass) filled from `values`; its defaults fill what is left out and its
    `__post_init__` checks ranges. Errors name the key as `<where>.<key>`."""
    require_known_fields(cls, values, where)
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), values))
    except OmegaConfBaseException as err:
        message = str(err).splitlines()[0]
        raise ConfigError(f"{where}.{err.full_key}: {message}") from None


def require_known_fields(cls: type, values: object, where: str) -> None:
    """One line naming the keys of `values` (and of its nested config mappings) that `cls` lacks."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a mapping of keys, got {values!r}")
    require_known_keys(values, cls, where)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]) and field.name in values:
            require_known_fields(hints[field.name], values[field.name], f"{where}.{field.name}")
