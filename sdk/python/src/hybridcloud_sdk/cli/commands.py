"""Resource commands: clusters, apps, workloads, fleet status, and the observability commands
(logs, alerts, events)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
import yaml

from ..streaming import StreamEvent
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
from .output import Output, errors, show

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


# --- observability: logs, alerts, events ----------------------------------------------------

LOG_COLUMNS = ["timestamp", "level", "cluster", "namespace", "pod", "message"]
ALERT_COLUMNS = ["id", "name", "severity", "state", "cluster", "started_at"]
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_time(text: str) -> str:
    """``--since 1h`` as the RFC3339 instant that long ago (units s, m, h, d)."""
    number, unit = text[:-1], text[-1:]
    if unit not in DURATION_UNITS or not number.isdigit():
        raise ValueError(f"--since: expected a duration like 30m, 1h or 2d, not {text!r}")
    ago = datetime.now(UTC) - timedelta(seconds=int(number) * DURATION_UNITS[unit])
    return ago.isoformat().replace("+00:00", "Z")


@app.command("logs")
@handled
def logs(query: Annotated[str, typer.Argument(
             help="e.g. 'level:error AND namespace:production'")],
         since: Annotated[str, typer.Option(help="how far back: 30m, 1h, 2d")] = "1h",
         limit: Annotated[int, typer.Option(min=1, help="lines per page")] = 100,
         sort: Annotated[str, typer.Option(help="timestamp:desc or timestamp:asc")
                         ] = "timestamp:desc",
         cursor: Annotated[str | None, typer.Option(help="next_cursor of a previous page")
                           ] = None,
         output: OutputOverride = None) -> None:
    """Query the fleet's logs (POST /v1/logs/query). A further page is announced on stderr."""
    with connect() as client:
        page = client.logs.query(query, start_time=since_time(since), limit=limit, sort=sort,
                                 cursor=cursor)
    if fmt(output) is Output.table:
        show(page.logs, Output.table, LOG_COLUMNS)
        if page.next_cursor:
            errors.print(f"more lines: --cursor {page.next_cursor}", markup=False,
                         highlight=False)
        return
    show(page, fmt(output))


@app.command("alerts")
@handled
def alerts(state: Annotated[str | None, typer.Option(help="firing or pending")] = None,
           severity: Annotated[str | None, typer.Option()] = None,
           cluster: Annotated[str | None, typer.Option(help="cluster ID")] = None,
           output: OutputOverride = None) -> None:
    """Firing and pending alerts of the tenant (GET /v1/alerts)."""
    with connect() as client:
        listing = client.alerts.list(state=state, severity=severity, cluster=cluster)
    show(listing.alerts, fmt(output), ALERT_COLUMNS)


@app.command("events")
@handled
def events(follow_: Annotated[bool, typer.Option(
               "--follow", "-f", help="keep streaming until Ctrl-C")] = False,
           cluster: Annotated[list[str] | None, typer.Option(
               "--cluster", help="only this cluster (repeatable)")] = None,
           event_type: Annotated[list[str] | None, typer.Option(
               "--type", help="only this event type, e.g. cluster.ready (repeatable)")] = None,
           last_event_id: Annotated[str | None, typer.Option(
               help="first replay what followed this event (server history)")] = None,
           idle: Annotated[float, typer.Option(
               min=0.1, help="without --follow: stop after this many quiet seconds")] = 2.0,
           output: OutputOverride = None) -> None:
    """Platform events (GET /v1/events, Server-Sent Events), one line each (JSON Lines with
    -o json). Without --follow: the server's bounded history (only what followed
    --last-event-id when given) plus what happens until the stream is quiet for --idle
    seconds, then exit 0. With --follow: from now on (or after --last-event-id) until Ctrl-C."""
    with connect() as client:
        stream = client.events.subscribe(clusters=cluster, events=event_type,
                                         last_event_id=last_event_id, replay=not follow_,
                                         idle_timeout=None if follow_ else idle)
        try:
            for event in stream:
                print_event(event, fmt(output))
        except KeyboardInterrupt:
            return  # Ctrl-C is how --follow ends: not an error


def print_event(event: StreamEvent, output: Output) -> None:
    if output is Output.table:
        print(f"{event.timestamp}  {event.event:<24} {event.id}  "
              f"{json.dumps(event.data, sort_keys=True)}", flush=True)
    elif output is Output.json:
        print(event.model_dump_json(), flush=True)
    else:
        print(yaml.safe_dump([event.model_dump(mode="json")], sort_keys=True), end="",
              flush=True)
