"""Loads tenant alert rules into Prometheus: every ``rules_sync_seconds`` the PrometheusRule
objects labelled ``platform.example.com/alert-rule=true`` (written by ``POST /v1/alert-rules`` or
applied from Git) are confined to their namespace's series, written to ``rules_file`` and, when
the file changed, Prometheus is told to reload. A rule that cannot be confined is left out (and
logged), never loaded as written.

Any number of API replicas may share one rule file: each renders the whole file from the
objects (sorted, so the same objects give the same bytes) and replaces it atomically through its
own temporary file (``replace_rule_file``); none keeps state the others need."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource

from ..observability import rules
from ..observability.prometheus import BackendUnavailableError, QueryRejectedError
from ..observability.scoping import Scoper
from .settings import Settings

log = logging.getLogger(__name__)

PrometheusRuleResource = create_namespaced_resource(rules.GROUP, rules.VERSION, rules.KIND,
                                                    rules.PLURAL)


def reserved_labels(settings: Settings) -> set[str]:
    """Labels only the platform sets on a tenant rule (severity comes from the REST body)."""
    return {"alertname", rules.RULE_ID_LABEL, settings.metrics_tenant_label}


async def render_rule_file(kube: AsyncClient, scoper: Scoper, settings: Settings) -> str:
    groups: list[dict[str, Any]] = []
    # Typed as Any: lightkube's generic resources are not annotated.
    listing: Any = kube.list(PrometheusRuleResource, namespace="*",
                             labels={rules.RULE_LABEL: "true"})
    async for item in listing:
        obj = item.to_dict()
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        loaded = []
        for rule in rules.alerting_rules(obj):
            problem = rules.rule_problem(rule, reserved_labels(settings))
            if problem:
                log.warning("alert rule %s/%s left out: %s", namespace, name, problem)
                continue
            try:
                scoped = await scoper.scope(str(rule.get("expr", "")),
                                            {settings.metrics_tenant_label: namespace})
            except QueryRejectedError as exc:
                log.warning("alert rule %s/%s left out: %s", namespace, name, exc.message)
                continue
            loaded.append(rules.tenant_rule(rule, scoped, settings.metrics_tenant_label,
                                            namespace, name))
        if loaded:
            groups.append({"name": f"{namespace}/{name}", "rules": loaded})
    groups.sort(key=lambda g: str(g["name"]))
    return yaml.safe_dump({"groups": groups}, sort_keys=True)


def replace_rule_file(path: Path, text: str) -> bool:
    """Make ``path`` hold ``text``; False when it already did (nothing written).

    Safe with any number of API replicas sharing the file: each writes a temporary file of its
    own (a shared temporary name would let one replica rename another's half-written file) and
    renames it over ``path`` atomically, so Prometheus only ever reads a whole file. Every
    replica renders the whole file from the same PrometheusRule objects, so whichever rename
    lands last holds the same rules."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # Prometheus may run as another user on a shared volume
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


async def sync_rules(kube: AsyncClient, scoper: Scoper, settings: Settings) -> None:
    assert settings.rules_file
    path = Path(settings.rules_file)
    written: str | None = None
    while True:
        try:
            text = await render_rule_file(kube, scoper, settings)
            if text != written:
                # Reload even when another replica already wrote this text: it may have
                # stopped between its rename and its reload. A reload is idempotent.
                replace_rule_file(path, text)
                await scoper.prometheus.reload()
                written = text
        except (ApiError, BackendUnavailableError, OSError) as exc:
            log.warning("alert rules not synced yet: %s", exc)
        except Exception:  # the loop must outlive any one bad round
            log.exception("alert rule sync failed")
        await asyncio.sleep(settings.rules_sync_seconds)
