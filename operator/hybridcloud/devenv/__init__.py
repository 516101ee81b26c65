"""``make up`` / ``make down`` / ``make run``: the whole product on this machine.

``up`` starts a detached supervisor and waits until everything answers. The supervisor runs a
management control plane (etcd + kube-apiserver + kube-controller-manager) with the CRDs
installed, then the operator and the REST API as real processes, and writes ``.run/env``::

    KUBECONFIG=…  HYBRIDCLOUD_API_URL=…  HYBRIDCLOUD_TOKEN=…

The token belongs to the ``hybridcloud-dev`` ServiceAccount (namespace ``default``), minted
through the TokenRequest API, so the API authenticates it like any other caller; its rate-limit
tier is ``HYBRIDCLOUD_DEV_TIER`` (enterprise unless set), so a first script or an API fuzzer is
not throttled at the Basic tier's burst of 100. The supervisor restarts an operator or API that
exits, with backoff (``supervision.py``), and logs each restart. ``down`` stops the supervisor,
which stops its children in order; every child also carries a parent-death signal, so even a
killed supervisor leaves nothing behind.

Modules: ``commands`` (up/down/run and the CLI), ``supervisor`` (the detached process and its
children), ``tiers`` (the dev identity's rate-limit tier), ``access`` (its ServiceAccount and
token), ``observability`` (Prometheus and Alertmanager for ``make up``). Development only:
nothing the operator or the API runs imports this package (an import-linter contract says so).
"""

from .commands import down, main, run, up
from .supervisor import Supervisor, create_sample_cluster, stop_local_clusters, supervise
from .tiers import DEV_USERNAME, api_tiers, describe_tier, dev_tier

__all__ = [
    "DEV_USERNAME",
    "Supervisor",
    "api_tiers",
    "create_sample_cluster",
    "describe_tier",
    "dev_tier",
    "down",
    "main",
    "run",
    "stop_local_clusters",
    "supervise",
    "up",
]
