"""The CLI's configuration: named contexts (server, credentials, tenant namespace) like
kubectl's, in ``$HYBRIDCLOUD_CONFIG`` or ``~/.config/hybridcloud/config.yaml``. The file holds
secrets, so it is only ever written with mode 0600."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml


def config_path() -> Path:
    explicit = os.environ.get("HYBRIDCLOUD_CONFIG")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "hybridcloud" / "config.yaml"


@dataclass
class Context:
    server: str
    client_id: str | None = None
    client_secret: str | None = None
    token: str | None = None
    namespace: str | None = None


@dataclass
class Config:
    current_context: str | None
    contexts: dict[str, Context]

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        path = path or config_path()
        if not path.exists():
            return cls(None, {})
        raw: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
        contexts = {name: Context(**fields) for name, fields in
                    (raw.get("contexts") or {}).items()}
        return cls(raw.get("current-context"), contexts)

    def save(self, path: Path | None = None) -> Path:
        path = path or config_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        document = {"current-context": self.current_context,
                    "contexts": {name: {k: v for k, v in asdict(c).items() if v is not None}
                                 for name, c in self.contexts.items()}}
        # Created 0600 before any secret is written; an existing file is tightened too.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as out:
            yaml.safe_dump(document, out, sort_keys=True)
        return path

    def context(self, name: str | None) -> tuple[str, Context]:
        chosen = name or self.current_context
        if not chosen:
            raise LookupError("not logged in: run `hybridcloud login`")
        if chosen not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise LookupError(f"no context {chosen!r} (known: {known}); run `hybridcloud login`")
        return chosen, self.contexts[chosen]
