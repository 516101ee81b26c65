"""Security scan commands (``security scan``, ``security scans get``, ``security
vulnerabilities``) and ``apps metrics``."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import models as m
from .app import OutputOverride, TimeoutOpt, app, apps, connect, fmt, handled
from .exits import Exit
from .output import errors, show

security = typer.Typer(help="Security scans and the vulnerabilities they found.",
                       no_args_is_help=True)
scans = typer.Typer(help="Scans started earlier.", no_args_is_help=True)
app.add_typer(security, name="security")
security.add_typer(scans, name="scans")

VULNERABILITY_COLUMNS = ["id", "severity", "package", "version", "fixed_version", "clusters"]


def _finished(scan: m.ScanView, output: OutputOverride) -> None:
    """Show the finished scan; a failed one exits WAIT_FAILED so scripts can tell."""
    show(scan, fmt(output))
    if scan.status != "completed":
        errors.print(f"error: scan {scan.id} {scan.status}: {scan.reason or ''} "
                     f"{scan.message or ''}", markup=False)
        raise typer.Exit(int(Exit.WAIT_FAILED))


@security.command("scan")
@handled
def security_scan(
        cluster: Annotated[list[str] | None, typer.Option(
            "--cluster", help="scan the images running on this cluster (repeatable)")] = None,
        image: Annotated[list[str] | None, typer.Option(
            "--image", help="scan this image reference (repeatable)")] = None,
        scan_type: Annotated[list[str] | None, typer.Option(
            "--type", help="vulnerabilities, secrets or misconfigurations (repeatable; "
            "default all)")] = None,
        wait: Annotated[bool, typer.Option("--wait", help="wait for the scan to finish")]
        = False,
        timeout: TimeoutOpt = 600, output: OutputOverride = None) -> None:
    """Start a scan; with --wait, show the finished scan (exit 8 if it failed)."""
    targets = [{"type": "cluster", "cluster_id": c} for c in cluster or []]
    if not targets and not image:
        raise ValueError("give --cluster or --image")
    from rich.status import Status

    with connect() as client:
        started = client.security.trigger_scan(targets=targets, images=image,
                                               scan_types=scan_type)
        if not wait:
            show(started, fmt(output))
            return
        with Status(f"scan {started.id}: waiting", console=errors) as status:
            scan = client.security.wait_for_scan(
                started.id, timeout=timeout, interval=1.0,
                on_progress=lambda s: status.update(
                    f"scan {s.id}: {s.status} ({(s.progress or {}).get('done', 0)}/"
                    f"{(s.progress or {}).get('total', 0)} targets)"))
    _finished(scan, output)


@scans.command("get")
@handled
def scans_get(scan_id: str, output: OutputOverride = None) -> None:
    """One scan: its state, per-target results and finding counts."""
    with connect() as client:
        show(client.security.get_scan(scan_id), fmt(output))


@security.command("vulnerabilities")
@handled
def security_vulnerabilities(
        severity: Annotated[str | None, typer.Option(
            help="low, medium, high or critical (comma list allowed)")] = None,
        fixed: Annotated[bool | None, typer.Option(
            "--fixed/--unfixed", help="only fixable ones / only unfixed ones")] = None,
        cluster: Annotated[str | None, typer.Option(help="only what scans of it found")]
        = None,
        output: OutputOverride = None) -> None:
    """What the latest scans found."""
    with connect() as client:
        found = client.security.list_vulnerabilities(severity=severity, fixed=fixed,
                                                     cluster=cluster)
    show(found, fmt(output), VULNERABILITY_COLUMNS, rows=found.vulnerabilities)


@apps.command("metrics")
@handled
def apps_metrics(app_name: str, cluster: Annotated[str, typer.Option(
        "--cluster", help="the cluster the application is placed on")],
                 output: OutputOverride = None) -> None:
    """Request rate, error rate, latency and CPU/memory of an application on one cluster."""
    with connect() as client:
        found = client.metrics.get_application_metrics(cluster, app_name)
    show(found, fmt(output))
