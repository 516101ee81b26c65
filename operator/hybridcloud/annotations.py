"""Annotations users set on both kinds, read in one place."""

from __future__ import annotations

from collections.abc import Mapping

from . import PAUSED_ANNOTATION

_TRUE = ("true", "1", "yes")


def is_paused(annotations: Mapping[str, str] | None) -> bool:
    """Whether ``platform.example.com/paused`` asks the operator to write nothing."""
    return (annotations or {}).get(PAUSED_ANNOTATION, "").lower() in _TRUE
