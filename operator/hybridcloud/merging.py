"""Merging nested values (placement values over application values, resources over defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merge(base: Mapping[str, Any] | None, override: Mapping[str, Any] | None
               ) -> dict[str, Any]:
    """``override`` over ``base``; nested mappings merge, everything else is replaced."""
    merged: dict[str, Any] = dict(base or {})
    for key, value in (override or {}).items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged
