"""Command lines of the control-plane components (pure functions, no side effects)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._net import LOOPBACK
from ._pki import SERVICE_CIDR, ClusterPKI

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
KWOK = "kwok"

# Start order; stop() walks it backwards so nothing loses its backend while still running.
MANAGEMENT_COMPONENTS = (ETCD, APISERVER, CONTROLLER_MANAGER)
MEMBER_COMPONENTS = (*MANAGEMENT_COMPONENTS, SCHEDULER, KWOK)

# Pod addresses kwok hands out; kept apart from the service range so the two never overlap.
POD_CIDR = "10.244.0.0/16"
# The address kwok reports for every fake node. Loopback, because kwok serves the kubelet API
# (pods/log, which the apiserver proxies to the node's InternalIP) on 127.0.0.1.
FAKE_NODE_IP = "127.0.0.1"
# kwok's own resources it reads from the member's apiserver: simulated container logs.
KWOK_CRDS = ("Logs", "ClusterLogs")


@dataclass(frozen=True)
class Ports:
    """Loopback ports chosen for one control plane."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int


def _url(port: int, scheme: str = "http") -> str:
    return f"{scheme}://{LOOPBACK}:{port}"


def server_url(ports: Ports) -> str:
    return _url(ports.apiserver, "https")


def etcd_args(data_dir: Path, ports: Ports) -> list[str]:
    client, peer = _url(ports.etcd_client), _url(ports.etcd_peer)
    return [
        "--name=default",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--initial-cluster-state=new",
        # Durability is pointless for a throw-away cluster and fsync dominates write latency.
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=4294967296",
        "--log-level=warn",
    ]


def apiserver_args(pki: ClusterPKI, ports: Ports) -> list[str]:
    server = server_url(ports)
    return [
        f"--etcd-servers={_url(ports.etcd_client)}",
        f"--secure-port={ports.apiserver}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        # Endpoints may not hold loopback addresses, so the reconciler for the `kubernetes`
        # Service would only log validation errors; nothing in-cluster needs that Service.
        "--endpoint-reconciler-type=none",
        # Unused while TLS files are given, but keeps it from ever writing to /var/run.
        f"--cert-dir={pki.directory}",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.client_ca_cert}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer={server}",
        f"--api-audiences={server}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        "--profiling=false",
        # Fake nodes have no resolvable hostname: reach kwok's kubelet API by address.
        "--kubelet-preferred-address-types=InternalIP",
    ]


def _secondary_serving_args(port: int, cert: Path, key: Path, kubeconfig: Path) -> list[str]:
    # Delegated authn/authz via the admin kubeconfig: without it the components look for an
    # in-cluster config, fail, and spam warnings.
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        f"--tls-cert-file={cert}",
        f"--tls-private-key-file={key}",
        # One instance only: leader election would just add seconds of start-up latency.
        "--leader-elect=false",
    ]


def controller_manager_args(
    pki: ClusterPKI, ports: Ports, kubeconfig: Path, serving: tuple[Path, Path], cluster: str
) -> list[str]:
    return [
        *_secondary_serving_args(ports.controller_manager, *serving, kubeconfig),
        f"--cluster-name={cluster}",
        f"--root-ca-file={pki.ca_cert}",
        f"--service-account-private-key-file={pki.service_account_key}",
        # CSRs approved in the cluster are signed by the client CA, so the resulting
        # certificates authenticate against this apiserver.
        f"--cluster-signing-cert-file={pki.client_ca_cert}",
        f"--cluster-signing-key-file={pki.client_ca_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--use-service-account-credentials=false",
        "--controllers=*",
    ]


def scheduler_args(ports: Ports, kubeconfig: Path, serving: tuple[Path, Path]) -> list[str]:
    return _secondary_serving_args(ports.scheduler, *serving, kubeconfig)


def kwok_args(kubeconfig: Path, stages: Path, port: int, serving: tuple[Path, Path]) -> list[str]:
    return [
        # The kubelet-style API (logs) on loopback over TLS, as the apiserver dials nodes.
        f"--server-address={LOOPBACK}:{port}",
        f"--node-port={port}",
        f"--tls-cert-file={serving[0]}",
        f"--tls-private-key-file={serving[1]}",
        f"--enable-crds={','.join(KWOK_CRDS)}",
        f"--kubeconfig={kubeconfig}",
        f"--config={stages}",
        "--manage-all-nodes=true",
        f"--cidr={POD_CIDR}",
        f"--node-ip={FAKE_NODE_IP}",
        # Leases let the node-lifecycle controller see the nodes as alive between the
        # heartbeat stage's status updates.
        "--node-lease-duration-seconds=40",
    ]
