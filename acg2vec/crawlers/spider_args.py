"""Typed spider arguments: one frozen dataclass per spider, parsed once when the spider is made.

A crawl's arguments travel from the command (``acg2vec crawl``), the demo or a test through the runner's JSON
spec with their types (ints, booleans, lists), and the spider turns them into its ``Args`` with
:func:`parse_args`, which also checks them (each ``Args.check``). A caller that only has strings (a benchmark's
``--arg key=value``) may pass them: a string given for a number, a flag or a list is read here, in one place
(lists split on ``,``, or on the separator a field names in its metadata, e.g. ``"|"`` as the MediaWiki API
writes lists).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

A = TypeVar("A")


@dataclasses.dataclass(frozen=True)
class SpiderArgs:
    """Base of every spider's ``Args``: ``check`` raises ValueError naming the argument that is wrong."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse a value no crawl could use; subclasses call ``super().check()``."""

    def given(self) -> dict[str, Any]:
        """The arguments as the runner's JSON spec carries them (tuples as lists, unset ones left out)."""
        out = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is not None:
                out[item.name] = list(value) if isinstance(value, tuple) else value
        return out


def parse_args(cls: type[A], values: dict[str, Any], *, spider: str) -> A:
    """``cls(**values)`` with each value read as its field's type; ValueError names an unknown or bad argument."""
    fields = {item.name: item for item in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{spider} takes no argument {', '.join(unknown)} (it takes {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    typed = {
        name: _read(name, value, hints[name], fields[name].metadata.get("separator", ","))
        for name, value in values.items()
    }
    return cls(**typed)


def _read(name: str, value: Any, hint: Any, separator: str) -> Any:
    if value is None:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is tuple:
        (item, _) = typing.get_args(hint)
        items = value.split(separator) if isinstance(value, str) else value
        items = [i.strip() if isinstance(i, str) else i for i in items]
        return tuple(_scalar(name, i, item) for i in items if i != "")
    return _scalar(name, value, hint)


def _scalar(name: str, value: Any, hint: Any) -> Any:
    if not isinstance(value, str) or hint is str:
        return value
    if hint is bool:
        word = value.strip().lower()
        if word in ("1", "true", "yes"):
            return True
        if word in ("0", "false", "no"):
            return False
        raise ValueError(f"{name} must be true or false, not {value!r}")
    if hint in (int, float):
        try:
            return hint(value)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {value!r}") from None
    return value
