"""A real, local Kubernetes control plane (etcd, kube-apiserver, ...) on loopback.

Used by the integration tests and by ``make run``::

    with ControlPlane(tmp_path, Profile.MEMBER, nodes=2) as cp:
        subprocess.run(["kubectl", "get", "nodes"], env={**os.environ, **cp.env()})

Also runnable as ``python -m hybridcloud.controlplane up|down --dir DIR``.
"""

from ._binaries import find_binary, resolve_bin_dir
from ._cluster import ControlPlane, Profile
from ._components import POD_CIDR
from ._errors import ControlPlaneError

__all__ = [
    "POD_CIDR",
    "ControlPlane",
    "ControlPlaneError",
    "Profile",
    "find_binary",
    "resolve_bin_dir",
]
