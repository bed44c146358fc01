"""Helpers every command shares to turn what the user typed into a config.

Config dataclasses own the defaults. A command declares its options with ``default=None`` and hands them to
:func:`apply_overrides`, so an option the user did not give leaves the config's default in place and no default
is written twice.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

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
