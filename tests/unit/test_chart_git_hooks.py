"""The chart mounts the Git push webhook secrets (POST /v1/hooks/git) from an existing Secret
and points the API's HYBRIDCLOUD_API_GIT_HOOK_SECRETS_DIR at them; off by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridcloud.api.routes.git_hooks import _secret
from hybridcloud.api.settings import Settings
from hybridcloud.delivery.githooks import Provider

from .test_chart_render import CHART, Render, env_of, fails, helm, one

API = ("Deployment", "hybridcloud-api")
VARIABLE = "HYBRIDCLOUD_API_GIT_HOOK_SECRETS_DIR"


@pytest.fixture(scope="module")
def render(bin_dir: Path) -> Render:
    def run(*args: str) -> list[dict[str, Any]]:
        answer = helm(bin_dir, "template", "hybridcloud", str(CHART), "--namespace", "hc-system",
                      *args)
        assert answer.returncode == 0, answer.stderr
        return [doc for doc in yaml.safe_load_all(answer.stdout) if doc]
    return run


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, *API)["spec"]["template"]["spec"]
    return spec


def test_by_default_no_secret_is_mounted_and_the_setting_is_unset(render: Render) -> None:
    objects = render()
    spec = pod_spec(objects)
    assert VARIABLE not in env_of(one(objects, *API))
    assert not [v for v in spec["volumes"] if "secret" in v]
    assert [m["name"] for m in spec["containers"][0]["volumeMounts"]] == ["tmp"]


def test_an_existing_secret_is_mounted_read_only_where_the_setting_points(
        render: Render) -> None:
    objects = render("--set", "gitHooks.existingSecret=git-webhooks")
    spec = pod_spec(objects)
    volume = next(v for v in spec["volumes"] if v["name"] == "git-hook-secrets")
    assert volume["secret"]["secretName"] == "git-webhooks"
    assert "items" not in volume["secret"]  # every key (github, gitlab, gitea) becomes a file
    mount = next(m for m in spec["containers"][0]["volumeMounts"]
                 if m["name"] == "git-hook-secrets")
    assert mount["readOnly"] is True
    assert "subPath" not in mount  # a subPath mount would never see a rotated Secret
    assert env_of(one(objects, *API))[VARIABLE] == mount["mountPath"] \
        == "/etc/hybridcloud/git-hooks"
    operator = one(objects, "Deployment", "hybridcloud-operator")
    assert "git-hook-secrets" not in str(operator)  # only the API receives pushes


def test_the_rendered_setting_lets_the_api_read_each_hosts_secret_from_the_mount(
        render: Render, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = tmp_path / "git-hooks"
    objects = render("--set", "gitHooks.existingSecret=git-webhooks",
                     "--set", f"gitHooks.mountPath={mount}")
    # What the kubelet makes of a Secret with keys github and gitea: one file per key.
    mount.mkdir()
    (mount / "github").write_bytes(b"s3cret-for-github\n")
    (mount / "gitea").write_bytes(b"s3cret-for-gitea")
    for name, value in env_of(one(objects, *API)).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert _secret(settings, Provider.GITHUB) == b"s3cret-for-github"
    assert _secret(settings, Provider.GITEA) == b"s3cret-for-gitea"
    assert _secret(settings, Provider.GITLAB) is None  # no key: that host is refused


def test_an_explicit_api_setting_wins_over_the_mount_path(render: Render) -> None:
    objects = render("--set", "gitHooks.existingSecret=git-webhooks",
                     "--set", "api.config.gitHookSecretsDir=/srv/hooks")
    assert env_of(one(objects, *API))[VARIABLE] == "/srv/hooks"


@pytest.mark.parametrize(("setting", "field"), [
    ("gitHooks.existingSecret=Not_A_Secret", "/gitHooks/existingSecret"),
    ("gitHooks.mountPath=relative/path", "/gitHooks/mountPath"),
    ("gitHooks.secretName=x", "'secretName' not allowed"),
])
def test_schema_rejects_bad_git_hook_values_naming_the_field(bin_dir: Path, setting: str,
                                                            field: str) -> None:
    assert field in fails(bin_dir, "--set", setting)
