"""Compare a JSON answer's shape with a real capture: the keys it must have and their JSON types.

Used by the sample site's conformance tests, and useful to any parser test that checks a stand-in
answer against a real one.
"""

from __future__ import annotations

from typing import Any


def shape_mismatches(ours: Any, real: Any, path: str = "$") -> list[str]:
    """Where ``ours`` lacks a key of ``real`` or has another JSON type (a null in ``real`` matches anything)."""
    if real is None:
        return []
    if isinstance(real, bool) or isinstance(ours, bool):
        return [] if isinstance(real, bool) and isinstance(ours, bool) else [f"{path}: {type(ours).__name__} != bool"]
    if isinstance(real, (int, float)):
        return [] if isinstance(ours, (int, float)) else [f"{path}: {type(ours).__name__} is not a number"]
    if isinstance(real, str):
        return [] if isinstance(ours, str) else [f"{path}: {type(ours).__name__} != str"]
    if isinstance(real, dict):
        if not isinstance(ours, dict):
            return [f"{path}: {type(ours).__name__} != object"]
        out = []
        for key, value in real.items():
            if key not in ours:
                out.append(f"{path}.{key}: missing")
            else:
                out.extend(shape_mismatches(ours[key], value, f"{path}.{key}"))
        return out
    if isinstance(real, list):
        if not isinstance(ours, list):
            return [f"{path}: {type(ours).__name__} != array"]
        if not real or not ours:
            return []
        # Each element of ours must fit some real element (infobox rows mix string and list values).
        out = []
        for item in ours:
            tries = [shape_mismatches(item, candidate, f"{path}[]") for candidate in real[:50]]
            out.extend(min(tries, key=len))
        return out
    return []
