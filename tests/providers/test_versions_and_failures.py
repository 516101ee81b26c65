"""Per cloud: the default version a cluster without ``spec.version`` gets, upgrades that may not
skip a minor version, and failures the fakes produce after accepting a request — each seen
through the real adapter and SDK."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hybridcloud.providers.aws import AWSProvider
from hybridcloud.providers.azure import AzureProvider
from hybridcloud.providers.base import ClusterSpec, ClusterState, InvalidConfigurationError
from hybridcloud.providers.local import LocalProvider
from hybridcloud.providers.openstack import OpenStackProvider
from tests.fakes.aks import FakeAKS
from tests.fakes.eks import FakeEKS
from tests.fakes.keystone import FakeKeystone
from tests.fakes.magnum import FakeMagnum
from tests.providers import test_aws as aws
from tests.providers import test_azure as azure
from tests.providers import test_openstack as openstack
from tests.providers.test_aws import eks, moto  # noqa: F401  (fixtures)
from tests.providers.test_azure import aks  # noqa: F401  (fixture)
from tests.providers.test_openstack import keystone, magnum, spec  # noqa: F401  (fixtures)


# -- EKS -------------------------------------------------------------------------------------
@pytest.fixture
def eks_provider(eks: FakeEKS) -> AWSProvider:  # noqa: F811
    return AWSProvider(aws.CREDENTIALS, endpoint_url=eks.url)


def test_eks_default_version_is_what_describe_cluster_versions_marks_default(
        eks_provider: AWSProvider, eks: FakeEKS) -> None:  # noqa: F811
    assert eks_provider.default_version(aws.SPEC) == "1.31"
    assert eks.count("GET", r"^/cluster-versions") == 1


def test_an_accepted_eks_create_that_fails_is_failed_with_the_health_issue(
        eks_provider: AWSProvider, eks: FakeEKS) -> None:  # noqa: F811
    eks.fail_next_create("Ec2SubnetInvalidConfiguration", "Subnet subnet-0aaa has no free IPs")
    eks_provider.create(aws.SPEC)
    eks.fast_forward()
    observed = eks_provider.describe(aws.SPEC)
    assert observed is not None and observed.state is ClusterState.FAILED
    assert observed.message == ("Ec2SubnetInvalidConfiguration: Subnet subnet-0aaa has no "
                                "free IPs")
    eks_provider.delete(aws.SPEC)  # a FAILED cluster can still be deleted
    eks.fast_forward()
    assert eks_provider.describe(aws.SPEC) is None


# -- AKS -------------------------------------------------------------------------------------
@pytest.fixture
def aks_provider(aks: FakeAKS) -> AzureProvider:  # noqa: F811
    return AzureProvider(azure.credentials(aks), base_url=aks.url)


def test_aks_default_version_is_the_regions_is_default_minor(
        aks_provider: AzureProvider, aks: FakeAKS) -> None:  # noqa: F811
    assert aks_provider.default_version(azure.SPEC) == "1.31"
    assert aks.server.count("GET", r"/locations/westeurope/kubernetesVersions$") == 1


def test_aks_refuses_to_skip_a_minor_version_and_keeps_running_the_old_one(
        aks_provider: AzureProvider, aks: FakeAKS) -> None:  # noqa: F811
    old = dataclasses.replace(azure.SPEC, version="1.29")
    aks_provider.create(old)
    aks.fast_forward()
    with pytest.raises(InvalidConfigurationError,
                       match=r"Upgrading Kubernetes version 1\.29\.14 to 1\.31\.6 is not "
                             r"allowed\. Available upgrades: \['1\.30\.10'\]"):
        aks_provider.upgrade(old, "1.31")
    observed = aks_provider.describe(old)
    assert observed is not None and observed.state is ClusterState.ACTIVE
    assert observed.version == "1.29.14"
    aks_provider.upgrade(old, "1.30")  # one minor: accepted
    aks.fast_forward()
    observed = aks_provider.describe(old)
    assert observed is not None and observed.version == "1.30.10"


# -- Magnum ----------------------------------------------------------------------------------
@pytest.fixture
def magnum_provider(keystone: FakeKeystone, magnum: FakeMagnum) -> OpenStackProvider:  # noqa: F811
    return OpenStackProvider(openstack.credentials(keystone))


def test_magnum_has_no_default_version_unless_a_named_template_carries_one(
        magnum_provider: OpenStackProvider, keystone: FakeKeystone,  # noqa: F811
        spec: ClusterSpec) -> None:  # noqa: F811
    with pytest.raises(InvalidConfigurationError, match=r"spec\.version is required") as caught:
        magnum_provider.default_version(dataclasses.replace(spec, version=""))
    assert caught.value.reason == "VersionRequired"
    openstack.another_user(keystone).create_cluster_template(
        name="k8s-shared", coe="kubernetes", image_id="fedora-coreos-38",
        flavor_id="m1.large", labels={"kube_tag": "v1.29.2"})
    named = dataclasses.replace(spec, version="", options={"clusterTemplate": "k8s-shared"})
    assert magnum_provider.default_version(named) == "1.29.2"


@pytest.mark.parametrize("operation", ["update", "delete"])
def test_magnum_update_or_delete_failing_after_acceptance_is_failed_with_the_reason(
        magnum_provider: OpenStackProvider, magnum: FakeMagnum, spec: ClusterSpec,  # noqa: F811
        operation: str) -> None:
    magnum_provider.create(spec)
    openstack.active(magnum_provider, spec)
    reason = f"Resource {operation.upper()} failed: ResourceInError: Went to status ERROR"
    if operation == "update":
        magnum.cloud.fail_next_update = reason
        magnum_provider.update_node_group(spec, dataclasses.replace(spec.node_groups[1],
                                                                    size=3))
    else:
        magnum.cloud.fail_next_delete = reason
        magnum_provider.delete(spec)
    observed = openstack.wait_for(magnum_provider, spec, lambda o: o is not None
                                  and o.state is ClusterState.FAILED)
    assert observed is not None and reason in (observed.message or "")
    assert observed.delete_failed is (operation == "delete")


# -- local -----------------------------------------------------------------------------------
def test_local_default_version_is_the_built_one_and_other_versions_cannot_be_upgraded_to(
        tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apiserver = bin_dir / "kube-apiserver"
    apiserver.write_text("#!/bin/sh\nexit 1\n")
    apiserver.chmod(0o700)
    (tmp_path / "kubernetes-version").write_text("v1.37.2\n")
    provider = LocalProvider(local_dir=tmp_path / "local", bin_dir=bin_dir)
    local_spec = ClusterSpec(name="hc-dev-00000000", region="local", version="",
                             node_groups=())
    assert provider.default_version(local_spec) == "1.37.2"
    with pytest.raises(InvalidConfigurationError,
                       match=r"cannot be upgraded in place: v1\.38 is not available; set "
                             r"spec\.version to v1\.37\.2 or leave it out") as caught:
        provider.upgrade(local_spec, "1.38")
    assert caught.value.reason == "UnsupportedVersion"
