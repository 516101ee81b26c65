"""The wire-level cloud fakes seen through one interface, for operator-level tests.

Each ``Cloud`` starts its fake, hands out the credentials Secret data the operator needs
(``endpoint`` points the real SDK at the fake) and answers what exists "at the cloud".
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Protocol

from tests.fakes.aks import FakeAKS
from tests.fakes.eks import FakeEKS
from tests.fakes.gke import FakeGKE
from tests.fakes.keystone import Account, FakeKeystone
from tests.fakes.magnum import FakeMagnum
from tests.fakes.server import FakeServer


class Cloud(Protocol):
    provider: str
    region: str
    version: str
    upgraded_version: str
    instance_type: str
    bad_instance_type: str
    masters: int  # control-plane nodes the user sees (0 for managed control planes)

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def credentials(self) -> dict[str, str]: ...
    def options(self) -> dict[str, Any]: ...
    def creates(self) -> int: ...
    def create_requests(self) -> Counter[str]:
        """Create calls that reached the cloud, per provider-side cluster name."""
    def exists(self, name: str) -> bool: ...
    def group_size(self, name: str, group: str) -> int | None: ...
    def cluster_version(self, name: str) -> str | None: ...
    def empty(self) -> bool: ...
    def throttle(self, count: int, retry_after: int = 1) -> None: ...
    @property
    def server(self) -> FakeServer: ...
    # The version a cluster gets without spec.version (major.minor), None: the cloud has none.
    default_version: str | None
    def fail_after_acceptance(self, message: str) -> None:
        """Let the cloud accept the next cluster create, then fail it with ``message``."""


class GKECloud:
    provider = "gcp"
    region = "europe-west1"
    version = "v1.29"
    upgraded_version = "v1.30"
    instance_type = "e2-standard-4"
    bad_instance_type = "not_a_machine"
    project = "hybrid-test"
    masters = 0

    def __init__(self) -> None:
        # One fake serves the whole module and clusters that tests orphan or leave failed stay
        # there: quota for 40 of them (each takes 24 vCPUs: 2 x e2-standard-4 in 3 zones).
        self.fake = FakeGKE(delay=0.3, cpu_quota=960)

    @property
    def server(self) -> FakeServer:
        return self.fake.server

    def start(self) -> None:
        self.fake.start()

    def stop(self) -> None:
        self.fake.stop()

    def credentials(self) -> dict[str, str]:
        return {"access_token": self.fake.access_token, "project": self.project,
                "endpoint": self.fake.url}

    def options(self) -> dict[str, Any]:
        return {"gcp": {"project": self.project}}

    def creates(self) -> int:
        return self.fake.count("POST", r"/clusters$")

    def _cluster(self, name: str) -> Any:
        return self.fake.cluster(name)

    def create_requests(self) -> Counter[str]:
        return self.fake.create_requests()

    def exists(self, name: str) -> bool:
        return self._cluster(name) is not None

    def group_size(self, name: str, group: str) -> int | None:
        cluster = self._cluster(name)
        pool = cluster.pools.get(group) if cluster else None
        if pool is None:
            return None
        return max((g.target for g in pool.groups), default=0)

    def cluster_version(self, name: str) -> str | None:
        cluster = self._cluster(name)
        return str(cluster.master_version) if cluster else None

    def empty(self) -> bool:
        return not self.fake.state.clusters

    def throttle(self, count: int, retry_after: int = 1) -> None:
        self.fake.fail_next(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric "
                            "'Requests' (rate limit)", count=count,
                            headers={"Retry-After": str(retry_after)})

    default_version = "1.30"  # the fake's serverConfig default
    two_minors_up = "v1.31"  # from `version`: the fake refuses to get there in one upgrade

    def fail_after_acceptance(self, message: str) -> None:
        self.fake.fail_next_operation(message, status="ERROR")


class AKSCloud:
    provider = "azure"
    region = "westeurope"
    version = "v1.30.4"
    upgraded_version = "v1.31.1"
    instance_type = "Standard_D4s_v5"
    bad_instance_type = "Huge_VM"
    tenant, client, secret = "tenant-1", "client-1", "client-secret-value"
    subscription = "00000000-0000-0000-0000-000000000001"
    group = "hybridcloud-westeurope"
    masters = 0

    def __init__(self) -> None:
        self.fake = FakeAKS(tenant_id=self.tenant, client_id=self.client,
                            client_secret=self.secret, subscription_id=self.subscription,
                            operation_delay=0.3)

    @property
    def server(self) -> FakeServer:
        return self.fake.server

    def start(self) -> None:
        self.fake.start()

    def stop(self) -> None:
        self.fake.stop()

    def credentials(self) -> dict[str, str]:
        return {"tenant_id": self.tenant, "client_id": self.client,
                "client_secret": self.secret, "subscription_id": self.subscription,
                "authority_host": self.fake.url, "endpoint": self.fake.url}

    def options(self) -> dict[str, Any]:
        return {}

    def creates(self) -> int:
        # ARM creates and updates with the same PUT; a create is a PUT to a path not seen yet.
        seen: set[str] = set()
        count = 0
        for request in list(self.fake.server.requests):
            if request.method == "PUT" and re.search(r"/managedClusters/[^/]+$", request.path):
                count += request.path not in seen
                seen.add(request.path)
        return count

    def create_requests(self) -> Counter[str]:
        return self.fake.create_requests()

    def exists(self, name: str) -> bool:
        return self.fake.cluster(self.group, name) is not None

    def group_size(self, name: str, group: str) -> int | None:
        pool = self.fake.pools(self.group, name).get(group)
        return int(pool["count"]) if pool else None

    def cluster_version(self, name: str) -> str | None:
        cluster = self.fake.cluster(self.group, name)
        if cluster is None:
            return None
        props = cluster.get("properties", {})
        return str(props.get("currentKubernetesVersion") or props.get("kubernetesVersion"))

    def empty(self) -> bool:
        return self.fake.is_empty()

    def throttle(self, count: int, retry_after: int = 1) -> None:
        self.fake.throttle_next(retry_after, count)

    default_version = "1.31"  # the fake's isDefault minor
    two_minors_up = "v1.32"

    def fail_after_acceptance(self, message: str) -> None:
        self.fake.fail_next_operation("VMExtensionProvisioningError", message)


class MagnumCloud:
    provider = "openstack"
    region = "RegionOne"
    version = "v1.28.0"
    upgraded_version = "v1.29.2"
    instance_type = "m1.small"
    bad_instance_type = "m1.gigantic"
    password = "openstack-password"
    masters = 1  # Magnum runs one master when the spec has no control-plane group

    def __init__(self) -> None:
        self.keystone = FakeKeystone(Account(password=self.password))
        self.fake = FakeMagnum(self.keystone, delay=0.3)

    @property
    def server(self) -> FakeServer:
        return self.fake.server

    def start(self) -> None:
        self.keystone.start()
        self.fake.start()

    def stop(self) -> None:
        self.fake.stop()
        self.keystone.stop()

    def credentials(self) -> dict[str, str]:
        return {"auth_url": self.keystone.auth_url, "username": "demo",
                "password": self.password, "project_name": "demo"}

    def options(self) -> dict[str, Any]:
        return {"openstack": {"image": "fedora-coreos-38", "keypair": "default",
                              "externalNetwork": "public"}}

    def creates(self) -> int:
        return self.fake.creates()

    def create_requests(self) -> Counter[str]:
        return self.fake.create_requests()

    def exists(self, name: str) -> bool:
        return self.fake.cluster_named(name) is not None

    def group_size(self, name: str, group: str) -> int | None:
        cluster = self.fake.cluster_named(name)
        if cluster is None:
            return None
        workers = [g for g in cluster.nodegroups if g.role != "master"]
        # The first worker group is Magnum's default-worker; the spec name is in its labels.
        found = next((g for g in workers if g.name == group), None) or \
            next((g for g in workers if g.is_default), None)
        return found.node_count if found else None

    def cluster_version(self, name: str) -> str | None:
        cluster = self.fake.cluster_named(name)
        return cluster.coe_version.removeprefix("v") if cluster and cluster.coe_version else None

    def empty(self) -> bool:
        return self.fake.is_empty()

    def throttle(self, count: int, retry_after: int = 1) -> None:
        self.fake.server.fail_next(count, status=429, body={"errors": [{
            "status": 429, "code": "client", "title": "Rate limit exceeded",
            "detail": "Too many requests"}]}, headers={"Retry-After": str(retry_after)})

    default_version = None  # Magnum has none: spec.version or a named template decides

    def fail_after_acceptance(self, message: str) -> None:
        self.fake.cloud.fail_next_create = message


class EKSCloud:
    provider = "aws"
    region = "us-east-1"
    version = "v1.29"
    upgraded_version = "v1.30"
    instance_type = "m5.large"
    bad_instance_type = "gigantic"
    masters = 0
    access_key, secret_key = "AKIAHYBRIDINTEG00001", "integration/Secret+Key0123456789abcdefgh"

    def __init__(self) -> None:
        self.fake = FakeEKS(credentials={self.access_key: self.secret_key}, delay=0.3)

    @property
    def server(self) -> FakeServer:
        return self.fake.server

    def start(self) -> None:
        self.fake.start()

    def stop(self) -> None:
        self.fake.stop()

    def credentials(self) -> dict[str, str]:
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key,
                "endpoint": self.fake.url}

    def options(self) -> dict[str, Any]:
        return {}

    def creates(self) -> int:
        return self.fake.count("POST", r"^/clusters$")

    def create_requests(self) -> Counter[str]:
        return self.fake.create_requests()

    def exists(self, name: str) -> bool:
        return self.fake.cluster(name, self.region) is not None

    def group_size(self, name: str, group: str) -> int | None:
        found = self.fake.node_group(name, group, self.region)
        return int(found["scalingConfig"]["desiredSize"]) if found else None

    def cluster_version(self, name: str) -> str | None:
        found = self.fake.cluster(name, self.region)
        return str(found["version"]) if found else None

    def empty(self) -> bool:
        return not self.fake.cluster_names(self.region)

    def throttle(self, count: int, retry_after: int = 1) -> None:
        self.fake.throttle_next(count, retry_after=retry_after)

    default_version = "1.31"  # the fake's DescribeClusterVersions default
    two_minors_up = "v1.31"

    def fail_after_acceptance(self, message: str) -> None:
        self.fake.fail_next_create("Ec2SubnetInvalidConfiguration", message)


def reads(cloud: Cloud) -> int:
    """GET requests the cloud's API handled so far: each operator pass reads the cluster."""
    return sum(1 for r in list(cloud.server.requests) if r.method == "GET")


CLOUDS: dict[str, type[Any]] = {"aws": EKSCloud, "gcp": GKECloud, "azure": AKSCloud,
                                 "openstack": MagnumCloud}

# Clouds whose fakes can count create calls unambiguously.
CRASH_TEST_CLOUDS: dict[str, type[Any]] = {"aws": EKSCloud, "gcp": GKECloud,
                                            "openstack": MagnumCloud}
