"""apply_overrides: what the user gave replaces the config's default; what they did not give leaves it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from acg2vec.commands.options import apply_overrides

pytestmark = pytest.mark.unit


@dataclass(slots=True)
class Knobs:
    size: int = 224
    names: tuple[str, ...] = ("a",)
    caps: dict[str, int] = field(default_factory=lambda: {"general": 5})


def test_only_given_values_override() -> None:
    knobs = Knobs()
    assert apply_overrides(knobs, size=None, names=("b", "c")) is knobs
    assert knobs == Knobs(size=224, names=("b", "c"))
    assert apply_overrides(Knobs(), size=0).size == 0  # 0 and "" are values, only None means "not given"


def test_an_unknown_field_is_a_programming_mistake() -> None:
    with pytest.raises(TypeError, match="Knobs has no field colour"):
        apply_overrides(Knobs(), colour="red")
