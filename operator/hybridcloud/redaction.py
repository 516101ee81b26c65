"""The one rule for keeping secrets out of messages that reach status, logs, events or HTTP.

Providers echo request fields in SDK errors, git and ssh echo URLs and key lines: every such
message passes through :func:`redact` with the credential values in play.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# Shorter values would mask ordinary words; no real token or password is that short.
MIN_SECRET_LENGTH = 4
# A multi-line secret (a PEM key) may be echoed line by line; lines this long are masked alone.
MIN_LINE_LENGTH = 9
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret, every long line of a multi-line secret and the user-info of
    every URL (``scheme://user:password@``) replaced by ``***``; longest values first, so a
    secret that contains another is masked whole."""
    values: set[str] = set()
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            continue
        values.add(secret)
        lines = [line.strip() for line in secret.strip().splitlines()]
        if len(lines) > 1:
            values.update(line for line in lines if len(line) >= MIN_LINE_LENGTH)
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return _USERINFO.sub(rf"\1{MASK}@", text)
