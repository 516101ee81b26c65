"""Image references as workloads write them, parsed with Docker's defaults (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ImageReferenceError(ValueError):
    """Not an image reference this scanner can resolve."""


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str = "latest"
    digest: str = ""

    @property
    def text(self) -> str:
        return self.registry + "/" + self.repository + (
            f"@{self.digest}" if self.digest else f":{self.tag}")


def parse(reference: str) -> ImageRef:
    """``[registry/]repository[:tag][@sha256:…]`` with Docker's defaults (docker.io, library/,
    latest)."""
    text = reference.strip()
    if not text or any(c.isspace() for c in text) or len(text) > 1024:
        raise ImageReferenceError(f"not an image reference: {reference!r}")
    name, _, digest = text.partition("@")
    if digest and not DIGEST.match(digest):
        raise ImageReferenceError(f"bad digest in {reference!r}")
    tag = ""
    slash = name.rfind("/")
    if ":" in name[slash + 1:]:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DEFAULT_REGISTRY, name
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    if not re.fullmatch(r"[a-z0-9]+([._/-][a-z0-9]+)*", repository):
        raise ImageReferenceError(f"bad repository in {reference!r}")
    return ImageRef(registry, repository, tag or "latest", digest)
