"""The validators behind source confinement: repository URLs, kustomize path fields, Helm
dependencies and symlinks, YAML expansion. The integration side (a real operator facing a
hostile tenant) is in ``tests/security/``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from hybridcloud.api.errors import APIError
from hybridcloud.api.schemas import ApplicationDeploy, application_spec
from hybridcloud.delivery.chart import check_chart
from hybridcloud.delivery.git import GitCache, GitCredentials, SourceError
from hybridcloud.delivery.kustomize import check_references
from hybridcloud.delivery.render import RenderError, RenderLimits, expanded_size, load_directory
from hybridcloud.delivery.urls import RepositoryRefusedError, Transport, check_repository

from .test_render import write

# -- repository URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "transport"), [
    ("https://git.example.com/team/app.git", Transport.HTTPS),
    ("https://git.example.com:8443/team/app.git", Transport.HTTPS),
    ("http://git.example.com/team/app.git", Transport.HTTP),
    ("git://git.example.com/team/app.git", Transport.GIT),
    ("ssh://git@git.example.com:2222/team/app.git", Transport.SSH),
    ("git@github.com:team/app.git", Transport.SSH),
    ("https://[2001:db8::1]/app.git", Transport.HTTPS),
])
def test_network_urls_are_allowed(url: str, transport: Transport) -> None:
    assert check_repository(url, field="f", allow_local=False) == transport


@pytest.mark.parametrize(("url", "said"), [
    ("file:///srv/other-tenant.git", "local repositories"),
    ("/var/cache/hybridcloud/delivery/git/repos/0123.git", "local repositories"),
    ("../other-repo", "local repositories"),
    ("ext::sh -c touch% /tmp/x", "remote helpers"),
    ("fd::3", "remote helpers"),
    ("git::https://example.com/x", "remote helpers"),
    ("-uhttps://example.com/x", "must not start with '-'"),
    ("https://user:pw@example.com/x.git", "must not embed credentials"),
    ("https://token@example.com/x.git", "must not embed credentials"),
    ("ssh://git:pw@example.com/x.git", "must not embed credentials"),
    ("ftp://example.com/x.git", "scheme ftp://"),
    ("s3://bucket/x", "scheme s3://"),
    ("https:///x.git", "no valid host"),
    ("https://-oProxyCommand=x/y", "no valid host"),
    ("git@-oProxyCommand=x:y", "not a supported"),
    ("git@host:-x", "must not start with '-'"),
    ("https://example.com/x\nfoo", "control characters"),
    ("example.com:team/app.git", "not a supported"),
])
def test_other_urls_are_refused_naming_the_field(url: str, said: str) -> None:
    with pytest.raises(RepositoryRefusedError) as error:
        check_repository(url, field="source.repository", allow_local=False)
    assert str(error.value).startswith("source.repository: ")
    assert said in str(error.value)
    assert "pw@" not in str(error.value)


def test_local_repositories_are_allowed_only_when_the_setting_is_on() -> None:
    for url in ("file:///srv/app.git", "/srv/app.git", "./app"):
        assert check_repository(url, field="f", allow_local=True) == Transport.LOCAL


@pytest.mark.parametrize("url", ["http://git.example.com/x.git", "git://git.example.com/x.git"])
def test_credentials_are_refused_over_clear_text_transports(url: str) -> None:
    assert check_repository(url, field="f", allow_local=False) is not None
    with pytest.raises(RepositoryRefusedError, match="clear text"):
        check_repository(url, field="f", allow_local=False, with_credentials=True)


def test_ssh_without_known_hosts_is_refused_before_git_runs(tmp_path: Path) -> None:
    cache = GitCache(tmp_path / "cache")
    with pytest.raises(SourceError) as error:
        asyncio.run(cache.resolve("git@git.example.com:team/app.git", "main",
                                  GitCredentials(ssh_private_key="KEY")))
    assert error.value.reason == "InvalidSource" and "knownHosts" in str(error.value)
    assert not (tmp_path / "cache" / "repos").exists(), "nothing was fetched"


def test_ssh_checks_host_keys_strictly_and_never_accepts_new_ones(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("git.example.com ssh-ed25519 AAAAplatform\n")
    cache = GitCache(tmp_path / "cache", known_hosts=known)
    assert cache.check("ssh://git@git.example.com/x.git", GitCredentials()) == Transport.SSH
    with cache._environment(GitCredentials(known_hosts="h ssh-ed25519 AAAAtenant")) as env:
        command = env["GIT_SSH_COMMAND"]
        hosts = Path(command.split("UserKnownHostsFile=")[1].split()[0]).read_text()
    assert "StrictHostKeyChecking=yes" in command and "accept-new" not in command
    assert "AAAAplatform" in hosts and "AAAAtenant" in hosts


def test_git_itself_refuses_file_transport_unless_allowed(tmp_path: Path) -> None:
    with GitCache(tmp_path / "a")._environment(GitCredentials()) as env:
        assert "file" not in env["GIT_ALLOW_PROTOCOL"].split(":")
    with GitCache(tmp_path / "b", allow_local=True)._environment(GitCredentials()) as env:
        assert "file" in env["GIT_ALLOW_PROTOCOL"].split(":")


# -- kustomize path fields ---------------------------------------------------------------------

FIELDS = {
    "resources": "resources:\n  - {entry}\n",
    "components": "components:\n  - {entry}\n",
    "bases": "bases:\n  - {entry}\n",
    "crds": "crds:\n  - {entry}\n",
    "configurations": "configurations:\n  - {entry}\n",
    "generators": "generators:\n  - {entry}\n",
    "transformers": "transformers:\n  - {entry}\n",
    "validators": "validators:\n  - {entry}\n",
    "configMapGenerator.files": "configMapGenerator:\n  - name: c\n    files:\n      - {entry}\n",
    "configMapGenerator.files key=": "configMapGenerator:\n  - name: c\n    files:\n"
                                     "      - k={entry}\n",
    "configMapGenerator.envs": "configMapGenerator:\n  - name: c\n    envs:\n      - {entry}\n",
    "secretGenerator.files": "secretGenerator:\n  - name: s\n    files:\n      - {entry}\n",
    "secretGenerator.env": "secretGenerator:\n  - name: s\n    env: {entry}\n",
    "patches.path": "patches:\n  - path: {entry}\n",
    "patchesStrategicMerge": "patchesStrategicMerge:\n  - {entry}\n",
    "patchesJson6902.path": "patchesJson6902:\n  - target: {{kind: X, name: y}}\n"
                            "    path: {entry}\n",
    "replacements.path": "replacements:\n  - path: {entry}\n",
    "openapi.path": "openapi:\n  path: {entry}\n",
}
REMOTE = ["http://127.0.0.1:9/x", "https://example.com/x.yaml",
          "http://169.254.169.254/latest/meta-data/", "//example.com/x", "git::https://h/x",
          "file:///etc/passwd", "s3://bucket/key", "git@github.com:org/repo"]


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("entry", REMOTE)
def test_every_path_field_refuses_remote_references(tmp_path: Path, field: str,
                                                    entry: str) -> None:
    repo = write(tmp_path, {"app/kustomization.yaml": "namePrefix: x-\n" +
                            FIELDS[field].format(entry=entry)})
    with pytest.raises(RenderError) as error:
        check_references(repo / "app", repo)
    assert error.value.origin.startswith("app/kustomization.yaml:")
    assert "remote reference" in error.value.message


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize(("entry", "said"), [("/etc/passwd", "absolute path"),
                                             ("../../other-repo/x.yaml", "leaves the repository")])
def test_every_path_field_refuses_paths_outside_the_repository(
        tmp_path: Path, field: str, entry: str, said: str) -> None:
    repo = write(tmp_path / "repo", {"app/kustomization.yaml": FIELDS[field].format(entry=entry)})
    with pytest.raises(RenderError) as error:
        check_references(repo / "app", repo)
    assert said in error.value.message and field.split(".")[-1].split()[0] in error.value.message


def test_a_host_like_base_is_refused_even_when_a_folder_of_that_name_exists(
        tmp_path: Path) -> None:
    repo = write(tmp_path, {"kustomization.yaml": "resources:\n  - github.com/org/repo\n",
                            "github.com/org/repo/kustomization.yaml": "resources: []\n"})
    with pytest.raises(RenderError, match="remote reference"):
        check_references(repo, repo)


def test_a_symlink_leaving_the_repository_is_refused(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"kustomization.yaml": "configMapGenerator:\n  - name: c\n"
                                     "    files: [stolen]\n"})
    (repo / "stolen").symlink_to("/etc/passwd")
    with pytest.raises(RenderError, match="leaves the repository"):
        check_references(repo, repo)


def test_plugin_configs_are_checked_too_inline_and_in_files(tmp_path: Path) -> None:
    inline = write(tmp_path / "a", {"kustomization.yaml": """\
generators:
  - |
    apiVersion: builtin
    kind: ConfigMapGenerator
    metadata: {name: c}
    files: [http://169.254.169.254/latest]
"""})
    with pytest.raises(RenderError, match="remote reference"):
        check_references(inline, inline)
    in_file = write(tmp_path / "b", {
        "kustomization.yaml": "transformers: [patch.yaml]\n",
        "patch.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\n"
                      "path: /etc/passwd\n"})
    with pytest.raises(RenderError, match="absolute path"):
        check_references(in_file, in_file)
    helm = write(tmp_path / "c", {
        "kustomization.yaml": "generators: [helm.yaml]\n",
        "helm.yaml": "apiVersion: builtin\nkind: HelmChartInflationGenerator\n"
                     "metadata: {name: h}\nrepo: https://charts.example.com\n"})
    with pytest.raises(RenderError, match="HelmChartInflationGenerator"):
        check_references(helm, helm)


def test_local_paths_inside_the_repository_pass(tmp_path: Path) -> None:
    repo = write(tmp_path, {
        "base/kustomization.yaml": "resources: [cm.yaml]\n",
        "app/kustomization.yaml": "resources: [../base]\nconfigMapGenerator:\n  - name: c\n"
                                  "    files: [conf=settings.conf]\n    envs: [app.env]\n"
                                  "patches:\n  - path: patch.yaml\n"
                                  "patchesStrategicMerge:\n  - |\n    apiVersion: v1\n"
                                  "    kind: ConfigMap\n    metadata: {name: x}\n"})
    check_references(repo / "app", repo)


# -- Helm -----------------------------------------------------------------------------------


def test_a_chart_dependency_that_is_not_vendored_is_refused(tmp_path: Path) -> None:
    chart = write(tmp_path, {"Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n"
                             "dependencies:\n  - name: redis\n    version: 1.0.0\n"
                             "    repository: http://127.0.0.1:9/charts\n"})
    with pytest.raises(RenderError) as error:
        check_chart(chart)
    assert error.value.origin == "Chart.yaml:5" and "not vendored" in error.value.message
    write(chart, {"charts/redis/Chart.yaml": "apiVersion: v2\nname: redis\nversion: 1.0.0\n"})
    check_chart(chart)


def test_a_file_dependency_leaving_the_chart_and_outward_symlinks_are_refused(
        tmp_path: Path) -> None:
    chart = write(tmp_path / "c", {"Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n"
                                   "dependencies:\n  - name: x\n    version: 1.0.0\n"
                                   "    repository: file://../../other-repo\n"})
    with pytest.raises(RenderError, match="leaves the chart"):
        check_chart(chart)
    other = write(tmp_path / "d", {"Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n"})
    (other / "templates").mkdir()
    (other / "templates" / "stolen.yaml").symlink_to("/etc/passwd")
    with pytest.raises(RenderError) as error:
        check_chart(other)
    assert error.value.origin == "templates/stolen.yaml:1"


# -- YAML expansion ------------------------------------------------------------------------------

BOMB = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: bomb}
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


def test_expanded_size_counts_aliases_each_time_without_expanding() -> None:
    node = yaml.compose(BOMB, Loader=yaml.SafeLoader)
    assert expanded_size(node, 10**12) > 10**8
    assert expanded_size(yaml.compose("a: [1, 2]", Loader=yaml.SafeLoader), 100) == 5


def test_an_alias_bomb_is_refused_naming_the_file_and_the_limit(tmp_path: Path) -> None:
    root = write(tmp_path, {"bomb.yaml": BOMB, "ok.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                            "metadata: {name: ok}\n"})
    with pytest.raises(RenderError) as error:
        load_directory(root)
    assert error.value.origin == "bomb.yaml:1"
    assert "RENDER_MAX_YAML_NODES" in error.value.message


def test_the_object_count_is_limited(tmp_path: Path) -> None:
    many = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n"
                   for i in range(5))
    root = write(tmp_path, {"many.yaml": many})
    with pytest.raises(RenderError, match="RENDER_MAX_OBJECTS=4"):
        load_directory(root, RenderLimits(max_objects=4))
    assert len(load_directory(root, RenderLimits(max_objects=5)).manifests) == 5


# -- the REST mapping -----------------------------------------------------------------------------


def test_the_rest_mapping_refuses_a_local_repository_naming_source_repository() -> None:
    body = ApplicationDeploy.model_validate({"name": "web", "source": {
        "repository": "file:///srv/other.git", "secret_name": "t"}})
    with pytest.raises(APIError) as error:
        application_spec(body, [{"cluster": "c"}])
    assert error.value.status == 400 and error.value.details == {"field": "source.repository"}
    spec = application_spec(body, [{"cluster": "c"}], allow_local_sources=True)
    assert spec["source"]["repository"] == "file:///srv/other.git"


def test_labels_and_selectors_named_like_path_fields_are_not_paths(tmp_path: Path) -> None:
    repo = write(tmp_path, {"kustomization.yaml": "commonLabels: {env: /prod}\n"
                            "labels:\n  - pairs: {path: 'http://x'}\n"
                            "patches:\n  - path: p.yaml\n    target: {name: /x}\n"})
    check_references(repo, repo)
