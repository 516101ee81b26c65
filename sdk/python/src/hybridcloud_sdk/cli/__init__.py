"""The ``hybridcloud`` command line: a REST client of the platform, shipped in the SDK package."""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]
