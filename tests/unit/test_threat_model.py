"""docs/security.md promises only what tests/security/ proves: every test it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
SECURITY_TESTS = ROOT / "tests" / "security"
REFERENCE = re.compile(r"`(test_[a-z0-9_]+\.py)::(test_[a-z0-9_]+)`")


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")}


def test_every_test_the_threat_model_names_exists() -> None:
    references = REFERENCE.findall(DOC.read_text())
    assert len(references) >= 40, "the threat model should name the tests behind its guarantees"
    missing = [f"{file}::{name}" for file, name in references
               if not (SECURITY_TESTS / file).exists()
               or name not in defined_tests(SECURITY_TESTS / file)]
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"


def test_every_attacker_test_is_named_by_the_threat_model() -> None:
    named = {(file, name) for file, name in REFERENCE.findall(DOC.read_text())}
    unnamed = [f"{path.name}::{name}" for path in sorted(SECURITY_TESTS.glob("test_*.py"))
               if path.name != "test_attacker_harness.py"
               for name in sorted(defined_tests(path)) if (path.name, name) not in named]
    assert not unnamed, f"attacker tests without a guarantee in docs/security.md: {unnamed}"
