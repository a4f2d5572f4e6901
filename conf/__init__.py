"""Hydra configuration files (a package so installed console scripts find them).

Importing it registers the typed schemas that the YAML files start from (`ssl_app.config`)."""

from ssl_app.config import register_configs

register_configs()
