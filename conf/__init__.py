"""Hydra configuration files (a package so installed console scripts find them)."""
