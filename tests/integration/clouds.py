"""The wire-level cloud fakes seen through one interface, for operator-level tests.

Each ``Cloud`` starts its fake, hands out the credentials Secret data the operator needs
(``endpoint`` points the real SDK at the fake) and answers what exists "at the cloud".
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from tests.fakes.aks import FakeAKS
from tests.fakes.gke import FakeGKE


class Cloud(Protocol):
    provider: str
    region: str
    version: str
    upgraded_version: str
    instance_type: str
    bad_instance_type: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def credentials(self) -> dict[str, str]: ...
    def options(self) -> dict[str, Any]: ...
    def creates(self) -> int: ...
    def exists(self, name: str) -> bool: ...
    def group_size(self, name: str, group: str) -> int | None: ...
    def cluster_version(self, name: str) -> str | None: ...
    def empty(self) -> bool: ...
    def throttle(self, count: int, retry_after: int = 1) -> None: ...


class GKECloud:
    provider = "gcp"
    region = "europe-west1"
    version = "v1.29"
    upgraded_version = "v1.30"
    instance_type = "e2-standard-4"
    bad_instance_type = "not_a_machine"
    project = "hybrid-test"

    def __init__(self) -> None:
        self.fake = FakeGKE(delay=0.3)

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

    def __init__(self) -> None:
        self.fake = FakeAKS(tenant_id=self.tenant, client_id=self.client,
                            client_secret=self.secret, subscription_id=self.subscription,
                            operation_delay=0.3)

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


CLOUDS: dict[str, type[Any]] = {"gcp": GKECloud, "azure": AKSCloud}

# Clouds whose fakes can count create calls unambiguously.
CRASH_TEST_CLOUDS: dict[str, type[Any]] = {"gcp": GKECloud}
