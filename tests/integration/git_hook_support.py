"""Git push webhooks as GitHub, GitLab and Gitea send them: payloads, signatures, settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.delivery.githooks import repository_key, tracked_by
from hybridcloud.delivery.gitpushes import RECORD_NAME, RecordedPush, recorded
from hybridcloud.kube.resources import MultiClusterApplicationResource

SECRETS = {"github": "github-hook-secret", "gitlab": "gitlab-hook-token",
           "gitea": "gitea-hook-secret"}


def secrets_dir(root: Path) -> Path:
    """The platform's webhook secrets, one file per provider (as a mounted Secret)."""
    root.mkdir(parents=True, exist_ok=True)
    for provider, secret in SECRETS.items():
        (root / provider).write_text(secret + "\n")
    return root


def hook_settings(kubeconfig: Path, secrets: Path, **overrides: Any) -> Settings:
    return Settings(kubeconfig=str(kubeconfig), auth_cache_seconds=1,
                    default_tier=Tier.ENTERPRISE, oauth_namespace="git-hooks-oauth",
                    git_hook_secrets_dir=str(secrets), **overrides)


def push_payload(provider: str, url: str, ref: str = "refs/heads/main",
                 after: str | None = None, default_branch: str = "main") -> bytes:
    """A push payload of ``provider`` for the repository at ``url``."""
    after = after or uuid.uuid4().hex + uuid.uuid4().hex[:8]
    if provider == "gitlab":
        body: dict[str, Any] = {
            "object_kind": "tag_push" if ref.startswith("refs/tags/") else "push",
            "ref": ref, "after": after,
            "project": {"git_http_url": url, "web_url": url.removesuffix(".git"),
                        "default_branch": default_branch},
            "repository": {"url": url, "git_http_url": url}}
    else:
        body = {"ref": ref, "after": after, "deleted": False,
                "repository": {"clone_url": url, "html_url": url.removesuffix(".git"),
                               "default_branch": default_branch}}
    return json.dumps(body).encode()


def signed_headers(provider: str, body: bytes, secret: str | None = None,
                   event: str | None = None) -> dict[str, str]:
    """The headers ``provider`` sends with ``body`` signed by ``secret`` (default: the
    platform's)."""
    key = (secret if secret is not None else SECRETS[provider]).encode()
    digest = hmac.new(key, body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    if provider == "github":
        headers |= {"X-GitHub-Event": event or "push", "X-Hub-Signature-256": f"sha256={digest}",
                    "X-GitHub-Delivery": str(uuid.uuid4())}
    elif provider == "gitea":
        headers |= {"X-Gitea-Event": event or "push", "X-GitHub-Event": event or "push",
                    "X-Gitea-Signature": digest, "X-Gitea-Delivery": str(uuid.uuid4())}
    else:
        headers |= {"X-Gitlab-Event": event or "Push Hook", "X-Gitlab-Token": key.decode()}
    return headers


def create_application(kube: Client, namespace: str, name: str, repository: str,
                       revision: str = "main", path: str = ".",
                       placement: list[str] | None = None) -> None:
    kube.create(MultiClusterApplicationResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
        "metadata": {"name": name},
        "spec": {"source": {"repository": repository, "revision": revision, "path": path},
                 "placement": [{"cluster": c} for c in placement or []]}}),
        namespace=namespace)


def recorded_pushes(kube: Client, namespace: str = "hybridcloud-system") -> list[RecordedPush]:
    """The pushes the API recorded for the operator (``delivery/gitpushes.py``)."""
    try:
        record = kube.get(ConfigMap, RECORD_NAME, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return []
        raise
    return recorded(record.data)


def pushes_since(kube: Client, before: list[RecordedPush], *repositories: str,
                 ) -> list[RecordedPush]:
    """Pushes recorded after ``before`` was read that name any of ``repositories`` (other
    tests may record pushes of their own repositories meanwhile)."""
    keys = {repository_key(url) for url in repositories}
    seen = {push.token for push in before}
    return [push for push in recorded_pushes(kube) if push.token not in seen
            and keys & set(push.push.repositories)]


def refreshed_by(kube: Client, pushes: list[RecordedPush], namespace: str,
                 *names: str) -> dict[str, bool]:
    """Which of the applications ``names`` the operator refreshes for ``pushes``: the same
    decision (``tracked_by``) it makes on each recorded push."""
    apps = {name: kube.get(MultiClusterApplicationResource, name, namespace=namespace).to_dict()
            for name in names}
    return {name: any(tracked_by(push.push, app) for push in pushes)
            for name, app in apps.items()}
