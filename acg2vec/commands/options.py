"""Helpers every command shares to turn what the user typed into a config.

Config dataclasses own the defaults. A command declares its options with ``default=None`` and hands them to
:func:`apply_overrides`, so an option the user did not give leaves the config's default in place and no default
is written twice. An option renamed keeps its old spelling for one release as a hidden alias (:func:`renamed`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import typer

Config = TypeVar("Config")


def apply_overrides(config: Config, **given: Any) -> Config:
    """Set each field of ``config`` named in ``given`` whose value is not None; returns ``config``.

    A name that is not a field of the dataclass is a programming mistake and raises ``TypeError``.
    """
    names = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    unknown = sorted(set(given) - names)
    if unknown:
        raise TypeError(f"{type(config).__name__} has no field {', '.join(unknown)}")
    for name, value in given.items():
        if value is not None:
            setattr(config, name, value)
    return config


def renamed(value: Any, old_value: Any, *, new: str, old: str) -> Any:
    """The value of an option given as ``new``, or as ``old``, its old spelling (declared ``hidden=True``), which
    says on stderr that it is deprecated. Given both ways, ``new`` wins."""
    if old_value is None:
        return value
    typer.echo(f"acg2vec: {old} is deprecated and goes in the next release; use {new}.", err=True)
    return old_value if value is None else value
