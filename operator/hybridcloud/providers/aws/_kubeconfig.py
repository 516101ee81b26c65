"""EKS kubeconfigs: an aws-iam-authenticator bearer token signed offline."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import yaml

from hybridcloud.providers.base import Kubeconfig

TOKEN_LIFETIME = timedelta(minutes=14)  # aws-iam-authenticator accepts a token for 15 minutes


def bearer_token(sts: Any, cluster_name: str) -> str:
    """A presigned STS GetCallerIdentity URL bound to the cluster by the signed
    ``x-k8s-aws-id`` header. ``sts`` must be a client of its own: a signing hook is added."""

    def bind_to_cluster(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster_name

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", bind_to_cluster)
    # 60 s like `aws eks get-token`: STS ignores it for this call, and the authenticator
    # accepts the token for 15 minutes after X-Amz-Date.
    url: str = sts.generate_presigned_url("get_caller_identity", Params={},
                                          ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def token_kubeconfig(name: str, endpoint: str, ca_data: str, token: str,
                     issued: datetime) -> Kubeconfig:
    user = f"{name}-aws"
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {
            "server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
    }
    return Kubeconfig(text=yaml.safe_dump(document, sort_keys=False),
                      expires_at=issued + TOKEN_LIFETIME)
