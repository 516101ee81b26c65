"""The OpenStack Magnum adapter drives the real openstacksdk over HTTP against fake Keystone and
Magnum servers, and maps Magnum's asynchronous statuses and errors onto the provider contract."""

from __future__ import annotations

import base64
import email.utils
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import openstack
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hybridcloud.providers.base import (
    AuthenticationError,
    CloudProvider,
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    NodeGroupSpec,
    ObservedCluster,
    PermanentError,
    ProviderError,
    QuotaExceededError,
    TransientError,
)
from hybridcloud.providers.openstack import OpenStackProvider
from tests.fakes.keystone import Account, FakeKeystone
from tests.fakes.magnum import FakeMagnum

PASSWORD = "s3cr3t-Passw0rd"
APP_SECRET = "app-cred-Secret-value-42"
TAGS = {"hybridcloud.io/cluster": "team-a.demo", "hybridcloud.io/uid": "1a2b3c4d"}

# openstacksdk warns about its own internals on every call; they are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")


def stop_in_background(stop: Callable[[], None]) -> None:
    # Server shutdown waits out serve_forever's 0.5 s poll; nothing depends on it finishing.
    threading.Thread(target=stop, daemon=True).start()


@pytest.fixture
def keystone() -> Iterator[FakeKeystone]:
    fake = FakeKeystone(Account(password=PASSWORD,
                                application_credentials={"app-cred-id": APP_SECRET}))
    fake.start()
    yield fake
    stop_in_background(fake.stop)


@pytest.fixture
def magnum(keystone: FakeKeystone) -> Iterator[FakeMagnum]:
    fake = FakeMagnum(keystone, delay=0.15)
    fake.start()
    yield fake
    stop_in_background(fake.stop)


def credentials(keystone: FakeKeystone, **overrides: str) -> dict[str, str]:
    return {"auth_url": keystone.auth_url, "username": "demo", "password": PASSWORD,
            "project_name": "demo", **overrides}


@pytest.fixture
def provider(keystone: FakeKeystone, magnum: FakeMagnum) -> OpenStackProvider:
    return OpenStackProvider(credentials(keystone))


@pytest.fixture
def spec() -> ClusterSpec:
    return ClusterSpec(
        name="hc-team-a-demo-1a2b3c4d", region="RegionOne", version="1.28.0", cni="calico",
        cluster_cidr="10.100.0.0/16", service_cidr="10.254.0.0/16",
        node_groups=(
            NodeGroupSpec("control-plane", 1, role="control-plane", instance_type="m1.medium"),
            NodeGroupSpec("workers", 2, instance_type="m1.small", disk_size=40),
        ),
        options={"image": "fedora-coreos-38", "keypair": "default",
                 "externalNetwork": "public"},
        tags=TAGS,
    )


def another_user(keystone: FakeKeystone) -> Any:
    """The Magnum API as someone else in the project sees it (the real SDK, not the adapter)."""
    connection = openstack.connection.Connection(
        auth_type="password", region_name="RegionOne",
        auth={"auth_url": keystone.auth_url, "username": "demo", "password": PASSWORD,
              "project_name": "demo", "user_domain_name": "Default",
              "project_domain_name": "Default"})
    return connection.container_infrastructure_management


def wait_for(provider: OpenStackProvider, spec: ClusterSpec,
             done: Callable[[ObservedCluster | None], bool],
             timeout: float = 5.0) -> ObservedCluster | None:
    deadline = time.monotonic() + timeout
    while True:
        observed = provider.describe(spec)
        if done(observed):
            return observed
        assert time.monotonic() < deadline, f"gave up waiting; last observed {observed}"
        time.sleep(0.03)


def active(provider: OpenStackProvider, spec: ClusterSpec) -> ObservedCluster:
    observed = wait_for(provider, spec, lambda o: o is not None and o.state is ClusterState.ACTIVE)
    assert observed is not None
    return observed


def with_extra_group(spec: ClusterSpec, group: NodeGroupSpec) -> ClusterSpec:
    return replace(spec, node_groups=(*spec.node_groups, group))


def assert_no_secret(error: ProviderError) -> None:
    for secret in (PASSWORD, APP_SECRET):
        assert secret not in str(error) and secret not in error.message


class TestCreateAndDescribe:
    def test_describe_of_an_unknown_cluster_is_none(self, provider: OpenStackProvider,
                                                    spec: ClusterSpec) -> None:
        assert isinstance(provider, CloudProvider) and provider.name == "openstack"
        assert provider.describe(spec) is None

    def test_create_shows_creating_then_active_with_groups_version_and_endpoint(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        with magnum.cloud.paused():
            provider.create(spec)
            creating = provider.describe(spec)
        assert creating is not None and creating.state is ClusterState.CREATING
        assert creating.endpoint is None

        observed = active(provider, spec)
        cloud_cluster = magnum.cluster_named(spec.name)
        assert cloud_cluster is not None
        assert observed.provider_id == cloud_cluster.uuid
        assert observed.version == "1.28.0"
        assert observed.endpoint == cloud_cluster.api_address
        assert observed.endpoint is not None and observed.endpoint.startswith("https://")
        assert base64.b64decode(observed.ca_data or "").decode() == cloud_cluster.ca.pem
        assert observed.master_count == 1
        groups = {g.name: g for g in observed.node_groups}
        assert set(groups) == {"control-plane", "workers"}
        assert (groups["workers"].size, groups["workers"].ready) == (2, 2)
        assert groups["workers"].state is ClusterState.ACTIVE
        assert groups["control-plane"].role == "control-plane"

    def test_create_again_makes_no_second_cloud_create(self, provider: OpenStackProvider,
                                                      magnum: FakeMagnum,
                                                      spec: ClusterSpec) -> None:
        provider.create(spec)
        provider.create(spec)
        active(provider, spec)
        provider.create(spec)
        assert magnum.creates() == 1
        assert len(magnum.cloud.clusters) == 1 and len(magnum.cloud.templates) == 1

    def test_template_and_cluster_are_built_from_the_spec_and_carry_the_tags(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        (template,) = magnum.cloud.templates.values()
        attrs = template.attrs
        assert template.name == f"{spec.name}-v1.28.0"
        assert (attrs["image_id"], attrs["keypair_id"], attrs["external_network_id"]) == (
            "fedora-coreos-38", "default", "public")
        assert (attrs["flavor_id"], attrs["master_flavor_id"]) == ("m1.small", "m1.medium")
        assert (attrs["network_driver"], attrs["docker_volume_size"]) == ("calico", 40)
        assert attrs["labels"]["kube_tag"] == "v1.28.0"
        assert attrs["labels"]["calico_ipv4pool"] == "10.100.0.0/16"
        assert attrs["labels"]["service_cluster_ip_range"] == "10.254.0.0/16"
        assert TAGS.items() <= attrs["labels"].items()
        cluster = magnum.cluster_named(spec.name)
        assert cluster is not None
        assert (cluster.master_count, cluster.node_count) == (1, 2)
        assert TAGS.items() <= cluster.attrs["labels"].items()
        assert cluster.attrs["labels"]["kube_tag"] == "v1.28.0"

    def test_an_existing_cluster_template_is_used_instead_of_creating_one(
            self, provider: OpenStackProvider, keystone: FakeKeystone, magnum: FakeMagnum,
            spec: ClusterSpec) -> None:
        shared = another_user(keystone).create_cluster_template(
            name="k8s-1.28-shared", coe="kubernetes", image_id="fedora-coreos-38",
            flavor_id="m1.large", labels={"kube_tag": "v1.28.0"})
        provider.create(replace(spec, options={"clusterTemplate": "k8s-1.28-shared"}))
        cluster = magnum.cluster_named(spec.name)
        assert cluster is not None and cluster.cluster_template_id == shared.uuid
        assert list(magnum.cloud.templates) == [shared.uuid]

    def test_three_masters_enable_the_master_load_balancer(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        ha = replace(spec, node_groups=(
            NodeGroupSpec("control-plane", 3, role="control-plane", instance_type="m1.medium"),
            spec.node_groups[1]))
        provider.create(ha)
        assert active(provider, ha).master_count == 3
        cluster = magnum.cluster_named(spec.name)
        assert cluster is not None and cluster.attrs["master_lb_enabled"] is True

    def test_a_failed_create_is_reported_as_failed_with_magnums_reason(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        magnum.cloud.fail_next_create = "Quota exceeded for cores: Requested 8, but already " \
                                        "used 20 of 20 cores"
        provider.create(spec)
        observed = wait_for(provider, spec, lambda o: o is not None and o.state is not
                            ClusterState.CREATING)
        assert observed is not None and observed.state is ClusterState.FAILED
        assert "Quota exceeded for cores" in (observed.message or "")

    def test_missing_image_without_a_template_is_an_invalid_configuration(
            self, provider: OpenStackProvider, spec: ClusterSpec) -> None:
        with pytest.raises(InvalidConfigurationError, match="image"):
            provider.create(replace(spec, options={}))


class TestNodeGroups:
    def test_update_node_group_resizes_with_an_updating_state_first(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        with magnum.cloud.paused():
            provider.update_node_group(spec, replace(spec.node_groups[1], size=4))
            updating = provider.describe(spec)
        assert updating is not None and updating.state is ClusterState.UPDATING
        workers = updating.node_group("workers")
        assert workers is not None and workers.state is ClusterState.UPDATING
        assert workers.size == 4
        done = active(provider, spec).node_group("workers")
        assert done is not None and (done.size, done.ready) == (4, 4)
        assert magnum.server.count("POST", r"/actions/resize$") == 1

    def test_update_node_group_sets_and_moves_autoscaling_bounds(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        provider.update_node_group(spec, replace(spec.node_groups[1], min_size=1, max_size=3))
        workers = active(provider, spec).node_group("workers")
        assert workers is not None and (workers.min_size, workers.max_size) == (1, 3)
        # Growing beyond the old maximum needs the bounds widened before Magnum accepts it.
        provider.update_node_group(spec, replace(spec.node_groups[1], size=6, min_size=5,
                                                 max_size=8))
        workers = active(provider, spec).node_group("workers")
        assert workers is not None
        assert (workers.size, workers.min_size, workers.max_size) == (6, 5, 8)
        provider.update_node_group(spec, replace(spec.node_groups[1], size=6))
        workers = active(provider, spec).node_group("workers")
        assert workers is not None and (workers.min_size, workers.max_size) == (None, None)

    def test_create_node_group_adds_a_magnum_node_group_once(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        gpu = NodeGroupSpec("gpu", 1, instance_type="m1.large", disk_size=80,
                            min_size=1, max_size=2)
        with magnum.cloud.paused():
            provider.create_node_group(spec, gpu)
            creating = provider.describe(spec)
            provider.create_node_group(spec, gpu)
        assert creating is not None and creating.state is ClusterState.UPDATING
        adding = creating.node_group("gpu")
        assert adding is not None and adding.ready == 0
        observed = active(provider, spec).node_group("gpu")
        assert observed is not None and (observed.size, observed.ready) == (1, 1)
        assert (observed.min_size, observed.max_size) == (1, 2)
        assert magnum.server.count("POST", r"/nodegroups$") == 1
        cluster = magnum.cluster_named(spec.name)
        assert cluster is not None
        group = cluster.nodegroup("gpu")
        assert group is not None and (group.flavor_id, group.docker_volume_size) == (
            "m1.large", 80)
        assert TAGS.items() <= group.labels.items()

    def test_repeated_create_adds_worker_groups_magnum_refused_while_creating(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        full = with_extra_group(spec, NodeGroupSpec("batch", 2, instance_type="m1.small"))
        with magnum.cloud.paused():
            provider.create(full)
            with pytest.raises(TransientError, match="CREATE_IN_PROGRESS"):
                provider.create_node_group(full, full.node_groups[2])
        active(provider, full)
        provider.create(full)
        observed = active(provider, full).node_group("batch")
        assert observed is not None and observed.size == 2

    def test_delete_node_group_removes_it_and_is_idempotent(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        provider.create_node_group(spec, NodeGroupSpec("batch", 1))
        active(provider, spec)
        with magnum.cloud.paused():
            provider.delete_node_group(spec, "batch")
            deleting = provider.describe(spec)
            provider.delete_node_group(spec, "batch")
        assert deleting is not None
        group = deleting.node_group("batch")
        assert group is not None and group.state is ClusterState.DELETING
        assert active(provider, spec).node_group("batch") is None
        provider.delete_node_group(spec, "batch")
        cluster = magnum.cluster_named(spec.name)
        assert cluster is not None and cluster.nodegroup("batch") is None
        assert magnum.server.count("DELETE", r"/nodegroups/") == 1

    def test_magnums_default_groups_cannot_be_deleted_or_masters_resized(
            self, provider: OpenStackProvider, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        with pytest.raises(InvalidConfigurationError, match="default"):
            provider.delete_node_group(spec, "workers")
        with pytest.raises(InvalidConfigurationError, match="masters"):
            provider.update_node_group(spec, replace(spec.node_groups[0], size=3))

    def test_changes_while_an_operation_runs_are_transient(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        with magnum.cloud.paused():
            provider.update_node_group(spec, replace(spec.node_groups[1], size=3))
            with pytest.raises(TransientError, match="UPDATE_IN_PROGRESS"):
                provider.update_node_group(spec, replace(spec.node_groups[1], size=5))


class TestUpgrade:
    def test_upgrade_moves_the_version_through_an_update(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        with magnum.cloud.paused():
            provider.upgrade(spec, "1.29.2")
            updating = provider.describe(spec)
            provider.upgrade(spec, "1.29.2")  # repeated while in progress: nothing new starts
        assert updating is not None and updating.state is ClusterState.UPDATING
        assert updating.version == "1.28.0"
        assert active(provider, spec).version == "1.29.2"
        assert magnum.server.count("POST", r"/actions/upgrade$") == 1
        names = sorted(t.name for t in magnum.cloud.templates.values())
        assert names == [f"{spec.name}-v1.28.0", f"{spec.name}-v1.29.2"]
        new = next(t for t in magnum.cloud.templates.values() if t.kube_tag == "v1.29.2")
        assert TAGS.items() <= new.attrs["labels"].items()
        assert new.attrs["flavor_id"] == "m1.small"

    def test_extra_node_groups_are_upgraded_by_later_calls(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        provider.create_node_group(spec, NodeGroupSpec("batch", 1))
        active(provider, spec)
        provider.upgrade(spec, "1.29.0")
        lagging = active(provider, spec)
        assert lagging.version == "1.28.0"  # "batch" still runs 1.28
        provider.upgrade(spec, "1.29.0")
        assert active(provider, spec).version == "1.29.0"
        cluster = magnum.cluster_named(spec.name)
        assert cluster is not None
        assert {g.version for g in cluster.nodegroups} == {"v1.29.0"}


class TestDelete:
    def test_delete_removes_cluster_node_groups_and_templates(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        active(provider, spec)
        provider.create_node_group(spec, NodeGroupSpec("batch", 1))
        active(provider, spec)
        provider.upgrade(spec, "1.29.0")
        active(provider, spec)

        def gone(observed: ObservedCluster | None) -> bool:
            if observed is None:
                return True
            assert observed.state is ClusterState.DELETING
            provider.delete(spec)  # as the operator does until describe returns None
            return False

        provider.delete(spec)
        assert wait_for(provider, spec, gone) is None
        assert magnum.is_empty()
        assert magnum.server.count("DELETE", r"^/v1/clusters/[^/]+$") == 1

    def test_delete_of_a_missing_cluster_is_fine(self, provider: OpenStackProvider,
                                                 magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.delete(spec)
        assert provider.describe(spec) is None
        assert magnum.is_empty()


class TestErrors:
    def test_throttling_is_transient_with_retry_after(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        magnum.server.fail_next(status=429, headers={"Retry-After": "7"},
                                body={"message": "Rate limit exceeded"})
        with pytest.raises(TransientError) as caught:
            provider.describe(spec)
        assert caught.value.retry_after == 7
        # One 429 went out and was not retried inside the client: the operator owns the retry,
        # which then goes through.
        assert magnum.server.faults_served(429) == 1
        provider.describe(spec)
        assert magnum.server.retried_after_faults(429)

    def test_a_server_error_is_transient_and_honours_an_http_date_retry_after(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30),
                                            usegmt=True)
        magnum.server.fail_next(status=503, method="POST", path=r"/v1/clusters$",
                                body="<html><body>503 Service Unavailable</body></html>",
                                headers={"Content-Type": "text/html", "Retry-After": later})
        with pytest.raises(TransientError, match="503") as caught:
            provider.create(spec)
        assert caught.value.retry_after is not None and 20 < caught.value.retry_after <= 30
        provider.create(spec)  # the retry succeeds
        assert magnum.creates() == 1

    def test_bad_password_is_an_authentication_error_without_the_secret(
            self, keystone: FakeKeystone, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        wrong = OpenStackProvider(credentials(keystone, password=PASSWORD + "-wrong"))
        with pytest.raises(AuthenticationError) as caught:
            wrong.describe(spec)
        assert PASSWORD + "-wrong" not in str(caught.value)
        assert_no_secret(caught.value)

    def test_a_401_from_magnum_after_reauthentication_is_an_authentication_error(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        magnum.server.fail_next(2, status=401, path=r"^/v1/", body={"error": {
            "code": 401, "title": "Unauthorized", "message": "Token expired"}})
        with pytest.raises(AuthenticationError, match="Token expired") as caught:
            provider.describe(spec)
        assert_no_secret(caught.value)

    def test_an_expired_token_is_renewed_transparently(
            self, provider: OpenStackProvider, keystone: FakeKeystone, spec: ClusterSpec) -> None:
        assert provider.describe(spec) is None
        keystone.revoke_all()
        assert provider.describe(spec) is None
        assert keystone.tokens_issued == 2

    def test_an_unversioned_auth_url_is_discovered(self, keystone: FakeKeystone,
                                                   magnum: FakeMagnum, spec: ClusterSpec) -> None:
        unversioned = OpenStackProvider(credentials(keystone, auth_url=keystone.url))
        assert unversioned.describe(spec) is None
        assert keystone.server.count("GET", r"^/$") >= 1

    def test_a_provider_message_echoing_a_secret_is_scrubbed(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        magnum.server.fail_next(status=400, method="POST", path=r"/v1/clustertemplates$",
                                body={"errors": [{"status": 400, "title": "Bad request",
                                                  "detail": f"bad field password={PASSWORD}"}]})
        with pytest.raises(InvalidConfigurationError, match=r"password=\*\*\*") as caught:
            provider.create(spec)
        assert_no_secret(caught.value)

    def test_application_credentials_authenticate(self, keystone: FakeKeystone,
                                                  magnum: FakeMagnum, spec: ClusterSpec) -> None:
        by_app = OpenStackProvider({"application_credential_id": "app-cred-id",
                                    "application_credential_secret": APP_SECRET},
                                   auth_url=keystone.auth_url)
        by_app.create(spec)
        assert magnum.creates() == 1
        bad = OpenStackProvider({"application_credential_id": "app-cred-id",
                                 "application_credential_secret": "nope"},
                                auth_url=keystone.auth_url)
        with pytest.raises(AuthenticationError) as caught:
            bad.describe(spec)
        assert_no_secret(caught.value)

    def test_exhausted_cluster_quota_is_a_quota_error_with_magnums_message(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        magnum.max_clusters = 0
        with pytest.raises(QuotaExceededError, match="maximum clusters per project") as caught:
            provider.create(spec)
        assert_no_secret(caught.value)

    def test_an_unknown_flavor_is_an_invalid_configuration_with_magnums_message(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        bad = replace(spec, node_groups=(NodeGroupSpec("workers", 1, instance_type="m9.huge"),))
        with pytest.raises(InvalidConfigurationError, match=r"Unable to find flavor m9\.huge"):
            provider.create(bad)
        assert magnum.creates() == 0

    def test_a_region_without_magnum_is_an_invalid_configuration(
            self, provider: OpenStackProvider, spec: ClusterSpec) -> None:
        with pytest.raises(InvalidConfigurationError, match="endpoint"):
            provider.describe(replace(spec, region="RegionTwo"))

    def test_unreachable_keystone_is_transient(self, keystone: FakeKeystone,
                                               spec: ClusterSpec) -> None:
        unreachable = OpenStackProvider(credentials(keystone, auth_url="http://127.0.0.1:9/v3"))
        with pytest.raises(TransientError) as caught:
            unreachable.describe(spec)
        assert_no_secret(caught.value)

    def test_incomplete_credentials_are_rejected_without_echoing_them(self) -> None:
        with pytest.raises(AuthenticationError, match="project_name") as caught:
            OpenStackProvider({"auth_url": "http://keystone/v3", "username": "demo",
                               "password": PASSWORD})
        assert_no_secret(caught.value)

    def test_a_duplicate_cluster_name_is_permanent(
            self, provider: OpenStackProvider, keystone: FakeKeystone, magnum: FakeMagnum,
            spec: ClusterSpec) -> None:
        provider.create(spec)
        template = next(iter(magnum.cloud.templates.values()))
        another_user(keystone).create_cluster(name=spec.name,
                                              cluster_template_id=template.uuid)
        with pytest.raises(PermanentError, match="Multiple clusters") as caught:
            provider.describe(spec)
        assert not isinstance(caught.value, TransientError)


class TestKubeconfig:
    def test_kubeconfig_has_endpoint_ca_and_a_fresh_admin_client_certificate(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        observed = active(provider, spec)
        result = provider.kubeconfig(spec, observed)
        doc = yaml.safe_load(result.text)
        (cluster_entry,) = doc["clusters"]
        assert cluster_entry["cluster"]["server"] == observed.endpoint
        assert cluster_entry["cluster"]["certificate-authority-data"] == observed.ca_data
        (user,) = doc["users"]
        cert = x509.load_pem_x509_certificate(
            base64.b64decode(user["user"]["client-certificate-data"]))
        key = base64.b64decode(user["user"]["client-key-data"])
        assert b"PRIVATE KEY" in key
        subject = {a.oid: a.value for a in cert.subject}
        assert subject == {NameOID.COMMON_NAME: "admin",
                           NameOID.ORGANIZATION_NAME: "system:masters"}
        ca = x509.load_pem_x509_certificate(base64.b64decode(observed.ca_data or ""))
        ca_key = ca.public_key()
        assert isinstance(ca_key, ec.EllipticCurvePublicKey)
        cert.verify_directly_issued_by(ca)
        assert doc["current-context"] == doc["contexts"][0]["name"]
        assert result.expires_at == cert.not_valid_after_utc
        assert result.expires_at is not None
        assert result.expires_at > datetime.now(UTC) + timedelta(days=300)
        assert PASSWORD not in result.text

    def test_each_kubeconfig_gets_a_new_key(self, provider: OpenStackProvider,
                                            spec: ClusterSpec) -> None:
        provider.create(spec)
        observed = active(provider, spec)
        first = yaml.safe_load(provider.kubeconfig(spec, observed).text)
        second = yaml.safe_load(provider.kubeconfig(spec, observed).text)
        assert first["users"][0]["user"]["client-key-data"] != \
            second["users"][0]["user"]["client-key-data"]

    def test_a_failed_signing_is_transient_and_reveals_no_secret(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        provider.create(spec)
        observed = active(provider, spec)
        magnum.server.fail_next(status=500, method="POST", path=r"^/v1/certificates$",
                                body={"errors": [{"status": 500, "title": "Internal error",
                                                  "detail": "barbican unavailable"}]})
        with pytest.raises(TransientError, match="barbican unavailable") as caught:
            provider.kubeconfig(spec, observed)
        assert_no_secret(caught.value)

    def test_kubeconfig_before_the_api_exists_is_transient(
            self, provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec) -> None:
        with magnum.cloud.paused():
            provider.create(spec)
            creating = provider.describe(spec)
            assert creating is not None
            with pytest.raises(TransientError, match="API address"):
                provider.kubeconfig(spec, creating)
