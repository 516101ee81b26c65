"""Test-suite policy shared by every folder."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_tool(message: str) -> NoReturn:
    """A tool a test needs is absent: skip on a developer's machine, fail in CI (``CI`` set), where
    a skip would hide a broken setup behind a green run."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must provide it)")
    pytest.skip(message)
