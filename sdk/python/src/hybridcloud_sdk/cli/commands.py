"""Resource commands: clusters, apps, workloads, fleet status, and the observability commands
whose endpoints other components add (logs, alerts, events)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .app import (
    OutputOverride,
    TimeoutOpt,
    WaitOpt,
    app,
    apps,
    clusters,
    connect,
    fmt,
    follow,
    handled,
    read_document,
    workloads,
)
from .exits import Exit
from .output import errors, show

CLUSTER_COLUMNS = ["id", "provider", "region", "version", "status", "nodes.ready", "nodes.total"]
FileOpt = Annotated[Path, typer.Option("--file", "-f", help="YAML or JSON body; - for stdin")]


# --- clusters --------------------------------------------------------------------------------

@clusters.command("list")
@handled
def clusters_list(provider: Annotated[str | None, typer.Option()] = None,
                  status: Annotated[str | None, typer.Option()] = None,
                  output: OutputOverride = None) -> None:
    """Every cluster of the tenant namespace (all pages)."""
    with connect() as client:
        rows = list(client.clusters.iter(provider=provider, status=status))
    show(rows, fmt(output), CLUSTER_COLUMNS)


@clusters.command("get")
@handled
def clusters_get(cluster_id: str, output: OutputOverride = None) -> None:
    with connect() as client:
        show(client.clusters.get(cluster_id), fmt(output))


@clusters.command("create")
@handled
def clusters_create(file: FileOpt, wait: WaitOpt = False, timeout: TimeoutOpt = 900,
                    output: OutputOverride = None) -> None:
    """Create a cluster from a file with the POST /v1/clusters body."""
    spec = read_document(file)
    with connect() as client:
        accepted = client.clusters.create(spec)
        if wait:
            follow(client, accepted.operation_id, timeout, f"cluster {accepted.id}")
            show(client.clusters.get(accepted.id), fmt(output))
            return
    show(accepted, fmt(output))


@clusters.command("scale")
@handled
def clusters_scale(cluster_id: str,
                   pool: Annotated[str, typer.Option("--pool", help="node pool name")],
                   size: Annotated[int, typer.Option("--size", min=0)],
                   wait: WaitOpt = False, timeout: TimeoutOpt = 900,
                   output: OutputOverride = None) -> None:
    """Resize one node pool."""
    with connect() as client:
        accepted = client.clusters.scale(cluster_id, pool, size)
        if wait:
            follow(client, accepted.operation_id, timeout, f"cluster {cluster_id}")
    show(accepted, fmt(output))


@clusters.command("upgrade")
@handled
def clusters_upgrade(cluster_id: str,
                     version: Annotated[str, typer.Option("--version", help="Kubernetes version")],
                     wait: WaitOpt = False, timeout: TimeoutOpt = 1800,
                     output: OutputOverride = None) -> None:
    with connect() as client:
        accepted = client.clusters.upgrade(cluster_id, version)
        if wait:
            follow(client, accepted.operation_id, timeout, f"cluster {cluster_id}")
    show(accepted, fmt(output))


@clusters.command("delete")
@handled
def clusters_delete(cluster_id: str, wait: WaitOpt = False, timeout: TimeoutOpt = 900,
                    output: OutputOverride = None) -> None:
    with connect() as client:
        accepted = client.clusters.delete(cluster_id)
        if wait:
            follow(client, accepted.operation_id, timeout, f"cluster {cluster_id}")
    show(accepted, fmt(output))


# --- applications ----------------------------------------------------------------------------

@apps.command("deploy")
@handled
def apps_deploy(cluster_id: str, file: FileOpt, wait: WaitOpt = False,
                timeout: TimeoutOpt = 600, output: OutputOverride = None) -> None:
    """Deploy from a file with the POST /v1/clusters/{id}/applications body."""
    spec = read_document(file)
    with connect() as client:
        name, source = spec.pop("name", None), spec.pop("source", None)
        if not isinstance(name, str) or not isinstance(source, dict):
            raise ValueError(f"{file}: needs `name` and a `source` object")
        accepted = client.applications.deploy(cluster_id, name, source, **spec)
        if wait:
            follow(client, accepted.operation_id, timeout, f"application {name}")
    show(accepted, fmt(output))


@apps.command("list")
@handled
def apps_list(cluster_id: str, output: OutputOverride = None) -> None:
    with connect() as client:
        rows = list(client.applications.iter(cluster_id))
    show(rows, fmt(output), ["name", "namespace", "status", "health_status", "sync_status"])


@apps.command("status")
@handled
def apps_status(cluster_id: str, name: str, output: OutputOverride = None) -> None:
    """One application's status on the cluster."""
    with connect() as client:
        for application in client.applications.iter(cluster_id):
            if application.name == name:
                show(application, fmt(output))
                return
    errors.print(f"error: no application {name!r} on cluster {cluster_id!r}", markup=False)
    raise typer.Exit(int(Exit.NOT_FOUND))


# --- workloads and fleet ---------------------------------------------------------------------

@workloads.command("list")
@handled
def workloads_list(cluster_id: str, namespace: Annotated[str | None, typer.Option(
        "--namespace", help="namespace on the member cluster")] = None,
                   output: OutputOverride = None) -> None:
    with connect() as client:
        answer = client.workloads.list(cluster_id, workload_namespace=namespace)
    rows = [item.model_dump(mode="json") for item in answer.workloads.deployments]
    show(answer, fmt(output), ["namespace", "name", "status", "replicas.desired",
                               "replicas.ready"], rows=rows)


@workloads.command("scale")
@handled
def workloads_scale(cluster_id: str, workload_type: str, namespace: str, name: str,
                    replicas: Annotated[int, typer.Option("--replicas", min=0)],
                    output: OutputOverride = None) -> None:
    """Scale a workload (WORKLOAD_TYPE: deployments, statefulsets or replicasets)."""
    with connect() as client:
        show(client.workloads.scale(cluster_id, workload_type, namespace, name, replicas),
             fmt(output))


@app.command("status")
@handled
def fleet_status(output: OutputOverride = None) -> None:
    """Fleet status: clusters, applications, connectivity, performance."""
    with connect() as client:
        show(client.multi_cluster.status(), fmt(output))


# --- endpoints other components add ----------------------------------------------------------

@app.command("logs")
@handled
def logs(cluster_id: str, query: Annotated[str, typer.Option(help="LogsQL query")] = "*",
         limit: Annotated[int, typer.Option(min=1)] = 100,
         output: OutputOverride = None) -> None:
    """Query logs (POST /v1/logs/query; exit 6 on a server without the logging API)."""
    with connect() as client:
        show(client.logs.query({"cluster_id": cluster_id, "query": query, "limit": limit}),
             fmt(output))


@app.command("alerts")
@handled
def alerts(status: Annotated[str | None, typer.Option()] = None,
           output: OutputOverride = None) -> None:
    """Active alerts (GET /v1/alerts; exit 6 on a server without the alerting API)."""
    with connect() as client:
        show(client.alerts.list(status=status), fmt(output))


@app.command("events")
@handled
def events(follow_: Annotated[bool, typer.Option("--follow", "-f", help="keep polling")] = False,
           interval: Annotated[float, typer.Option(min=0.5)] = 2.0,
           output: OutputOverride = None) -> None:
    """Platform events (GET /v1/events; exit 6 on a server without the events API)."""
    seen: set[str] = set()
    with connect() as client:
        while True:
            page = client.events.list()
            for event in page.model_dump(mode="json").get("events", []):
                key = str(event.get("id", event))
                if key not in seen:
                    seen.add(key)
                    show(event, fmt(output))
            if not follow_:
                return
            time.sleep(interval)

