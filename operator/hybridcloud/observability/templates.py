"""Which alert annotation templates a tenant may use.

Prometheus expands annotations as Go templates when an alert fires, with functions such as
``query`` that run arbitrary, unconfined PromQL, and a template that does not parse makes the
whole rule reload fail (every tenant's rules). So tenant annotations may only hold the plain
placeholders below; anything else between ``{{`` and ``}}`` is refused when the rule is written.
"""

from __future__ import annotations

import re

_ACTION = re.compile(
    r"\{\{\s*(?:\$value|\$labels\.[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\s*\|\s*(?:humanize|humanize1024|humanizePercentage|humanizeDuration))?\s*\}\}")


def template_problem(text: str) -> str | None:
    """Why ``text`` is not an allowed annotation, or None."""
    rest = _ACTION.sub("", text)
    if "{{" in rest or "}}" in rest:
        return ("only {{ $value }} and {{ $labels.<name> }} placeholders (optionally piped to "
                "humanize, humanize1024, humanizePercentage or humanizeDuration) are allowed")
    return None
