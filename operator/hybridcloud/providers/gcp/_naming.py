"""GKE's rules for names, labels and versions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping


def gke_name(name: str) -> str:
    """A valid GKE resource name for ``name``: itself when valid, else sanitized + hash."""
    if re.fullmatch(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?", name):
        return name
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not stem[:1].isalpha():
        stem = f"hc-{stem}"
    return f"{stem[:31].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _label_text(text: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]", "_", text.lower())
    if len(cleaned) <= 63:
        return cleaned
    return f"{cleaned[:54]}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def gcp_labels(tags: Mapping[str, str]) -> dict[str, str]:
    """GCP label rules: keys start with a lowercase letter; keys/values ``[a-z0-9_-]{0,63}``."""
    labels = {}
    for key, value in tags.items():
        label_key = _label_text(key)
        labels[label_key if label_key[:1].isalpha() else _label_text(f"k-{key}")] = \
            _label_text(value)
    return labels


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", version))


def version_matches(actual: str, wanted: str) -> bool:
    """GKE resolves "1.29" or "1.29.4" to a full version such as "1.29.4-gke.1043002"."""
    wanted = wanted.removeprefix("v")
    return actual == wanted or actual.startswith((f"{wanted}.", f"{wanted}-"))
