"""Typed models of the API: generated from ``sdk/openapi.json`` into ``_generated.py`` by
``sdk/python/generate.sh`` (never edit that file by hand), plus ``Document`` for contract
endpoints this server's OpenAPI document does not describe yet."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ._generated import *  # noqa: F403  (the generated models are the public surface)
from ._generated import (
    Accepted,
    ApplicationDeploy,
    ApplicationList,
    ApplicationSummary,
    ClusterCreate,
    ClusterDetails,
    ClusterList,
    ClusterPatch,
    ClusterSummary,
    MultiClusterDeploy,
    MultiClusterStatus,
    Operation,
    PolicyCreate,
    PolicyList,
    PolicyPatch,
    PolicyView,
    ScaleRequest,
    ScaleResult,
    Token,
    WorkloadsResponse,
)


class Document(BaseModel):
    """The JSON object an endpoint answered, kept whole (every key is an attribute)."""

    model_config = ConfigDict(extra="allow")


__all__ = [
    "Accepted", "ApplicationDeploy", "ApplicationList", "ApplicationSummary", "BaseModel",
    "ClusterCreate", "ClusterDetails", "ClusterList", "ClusterPatch", "ClusterSummary",
    "Document", "MultiClusterDeploy", "MultiClusterStatus", "Operation", "PolicyCreate",
    "PolicyList", "PolicyPatch", "PolicyView", "ScaleRequest", "ScaleResult", "Token",
    "WorkloadsResponse",
]
