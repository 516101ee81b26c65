"""SecurityScan controller: run each scan once with Trivy and write its reports.

A scan is work done once, not a desired state: a scan whose status is ``completed`` or
``failed`` for its generation is left alone (its spec is immutable). A scan found ``running``
(the operator restarted mid-scan) runs again; report names are derived from the scan and the
subject, so a rerun replaces rather than duplicates them.

A ``cluster`` target is read through the platform's own copy of the member credential (never the
tenant's ``<cluster>-kubeconfig``): its workloads' images are scanned once each (the scanner also
caches by digest across scans), their pod specs are checked against the Pod Security Standards
and the tenant's SecurityPolicy rules (:mod:`hybridcloud.security.policy_checks`), and the literal
values of their manifests are scanned for secrets. Reports are owned by the scan,
so deleting it deletes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx2
import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import api_info
from lightkube.resources.apps_v1 import DaemonSet, Deployment, ReplicaSet, StatefulSet
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import ConfigMap, Pod
from lightkube.types import PatchType

from .. import GROUP, VERSION
from ..conditions import now_rfc3339
from ..kube import objects
from ..kube.member_credentials import MemberClients, MemberCredentialError
from ..kube.resources import (
    ConfigAuditReportResource,
    HybridClusterResource,
    SecurityPolicyResource,
    SecurityScanResource,
    VulnerabilityReportResource,
)
from ..kube.tenants import TenantBook
from ..kube.wire import KubeWire
from ..models.securityscan import SecurityScan
from ..security import policy_checks, scan_decisions, workload_checks
from ..security.decisions import USABLE_PHASES
from ..security.scan_decisions import TargetOutcome
from ..security.scanner import ScanError, ScannerSettings, TrivyScanner
from .config import OperatorConfig
from .keyed import (
    Key,
    QueuedController,
    cluster_facts,
    member_refusal,
    platform_member_clients,
)
from .queue import WorkQueue

log = logging.getLogger(__name__)
FIELD_MANAGER = "hybridcloud-security-scans"
_MEMBER_TIMEOUT = 30.0
_SKIPPED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
# Pods and ReplicaSets/Jobs that a higher workload owns are read through that owner.
_WORKLOADS = (Deployment, StatefulSet, DaemonSet, CronJob, ReplicaSet, Job, Pod)
_MEMBER_TROUBLE = (ApiError, MemberCredentialError, httpx2.HTTPError)
_DONE = ("completed", "failed")


class SecurityScanController(QueuedController):
    def __init__(self, client: AsyncClient, wire: KubeWire, config: OperatorConfig,
                 tenants: TenantBook) -> None:
        self.client, self.wire, self.config, self.tenants = client, wire, config, tenants
        self.bodies: dict[Key, dict[str, Any]] = {}
        self.queue: WorkQueue[Key] = WorkQueue(self.reconcile, workers=config.scan_workers,
                                            name="securityscan")
        self.members: MemberClients[AsyncClient] = platform_member_clients(
            client, config.member_credentials_namespace, FIELD_MANAGER, _MEMBER_TIMEOUT)
        self.scanner = TrivyScanner(ScannerSettings(
            trivy=config.scanner_trivy_path, cache_dir=config.scanner_cache_dir,
            timeout=config.scanner_timeout,
            insecure_registries=frozenset(config.scanner_insecure_registries),
            private_registries=frozenset(config.scanner_private_registries)))

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = self.remember(event_type, body)
        status = body.get("status") or {}
        if key is not None and (status.get("phase") not in _DONE or status.get(
                "observedGeneration") != body["metadata"].get("generation", 1)):
            self.queue.add(key)

    async def stop(self) -> None:
        await self.queue.stop()
        await self.members.close()

    # -- one scan ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        body = self.bodies.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        generation = int(body["metadata"].get("generation", 1))
        status = body.get("status") or {}
        if status.get("phase") in _DONE and status.get("observedGeneration") == generation:
            return None
        spec = body.get("spec") or {}
        targets = spec.get("targets") or []
        kinds = set(spec.get("scanTypes") or ("vulnerabilities", "secrets", "misconfigurations"))
        started = now_rfc3339()
        await self._status(key, body, {
            "phase": "running", "observedGeneration": generation, "startedAt": started,
            "progress": {"total": len(targets), "done": 0}, "reason": None, "message": None})
        outcomes: list[TargetOutcome] = []
        for target in targets:
            if target.get("type") == "cluster":
                outcomes.append(await self._scan_cluster(key, body, target["clusterId"], kinds))
            else:
                outcomes.append(await self._scan_image_target(body, target["image"], kinds))
            await self._status(key, body, {"progress": {"total": len(targets),
                                                        "done": len(outcomes)}})
        await self._status(key, body, scan_decisions.finished_status(
            outcomes, generation=generation, started_at=started, now=now_rfc3339()))
        return None

    def _scanners(self, kinds: set[str]) -> tuple[str, ...]:
        return tuple(name for kind, name in (("vulnerabilities", "vuln"), ("secrets", "secret"))
                     if kind in kinds)

    async def _scan_image_target(self, scan: dict[str, Any], image: str,
                                 kinds: set[str]) -> TargetOutcome:
        target = f"image/{image}"
        scanners = self._scanners(kinds)
        if not scanners:
            return TargetOutcome(target, "completed")
        try:
            result = await self.scanner.scan_image(image, scanners)
        except ScanError as exc:
            return TargetOutcome(target, "failed", exc.reason, exc.message)
        report = scan_decisions.vulnerability_report(scan, result, None, [], now_rfc3339())
        name = await self._write(VulnerabilityReportResource, report)
        return TargetOutcome(target, "completed", images=1, reports=(name,),
                             counts=scan_decisions.report_counts(report))

    async def _scan_cluster(self, key: Key, scan: dict[str, Any], cluster: str,
                            kinds: set[str]) -> TargetOutcome:
        target = f"cluster/{cluster}"
        try:
            found = await self.client.get(HybridClusterResource, cluster, namespace=key[0])
        except ApiError as exc:
            if exc.status.code == 404:
                return TargetOutcome(target, "failed", scan_decisions.CLUSTER_NOT_FOUND,
                                     f"cluster {cluster} not found")
            raise
        body = dict(found.to_dict())  # type: ignore[no-untyped-call]
        phase = (body.get("status") or {}).get("phase")
        if phase not in USABLE_PHASES or body["metadata"].get("deletionTimestamp"):
            return TargetOutcome(target, "failed", scan_decisions.CLUSTER_NOT_READY,
                                 f"cluster {cluster} is {phase or 'not ready'}")
        try:
            member = await self.members.get(key[0], cluster, body["metadata"]["uid"])
            workloads = await _read_workloads(member)
        except _MEMBER_TROUBLE as exc:
            return TargetOutcome(target, "failed", scan_decisions.CLUSTER_UNREACHABLE,
                                 member_refusal(exc))
        policies = (await self._policies(key[0], body) if "misconfigurations" in kinds else [])
        return await self._scan_workloads(scan, cluster, workloads, kinds, policies)

    async def _policies(self, namespace: str,
                        cluster: dict[str, Any]) -> list[policy_checks.PolicyInForce]:
        """The tenant's SecurityPolicies that apply to ``cluster``: read fresh at each scan (a
        policy written just before the scan counts)."""
        bodies = [dict(item.to_dict())  # type: ignore[no-untyped-call]
                  async for item in self.client.list(SecurityPolicyResource,
                                                     namespace=namespace)]
        return policy_checks.in_force(bodies, cluster_facts(cluster),
                                      self.tenants.rules_for(namespace))

    async def _scan_workloads(self, scan: dict[str, Any], cluster: str,
                              workloads: list[dict[str, Any]], kinds: set[str],
                              policies: list[policy_checks.PolicyInForce]) -> TargetOutcome:
        target = f"cluster/{cluster}"
        users: dict[str, list[str]] = {}
        for obj in workloads:
            where = f"{obj['kind']}/{obj['metadata'].get('namespace', '')}/" \
                    f"{obj['metadata']['name']}"
            for image in workload_checks.images(obj):
                users.setdefault(image, []).append(where)
        reports: list[str] = []
        counts: dict[str, int] = {}
        failures: list[ScanError] = []
        scanners = self._scanners(kinds)
        for image in sorted(users) if scanners else []:
            try:
                result = await self.scanner.scan_image(image, scanners)
            except ScanError as exc:
                failures.append(ScanError(exc.reason, f"{image}: {exc.message}"))
                continue
            report = scan_decisions.vulnerability_report(scan, result, cluster, users[image],
                                                         now_rfc3339())
            reports.append(await self._write(VulnerabilityReportResource, report))
            counts = scan_decisions.add_counts(counts, scan_decisions.report_counts(report))
        if kinds & {"misconfigurations", "secrets"}:
            checks = ([c for obj in workloads for c in workload_checks.check(_qualified(obj))]
                      + [c for obj in workloads for c in policy_checks.check(obj, policies)]
                      if "misconfigurations" in kinds else [])
            secrets: tuple[Any, ...] = ()
            if "secrets" in kinds:
                texts: dict[str, str] = {}
                for obj in workloads:
                    texts.update(workload_checks.literal_texts(_qualified(obj)))
                try:
                    secrets = await self.scanner.scan_texts(texts)
                except ScanError as exc:
                    failures.append(ScanError(exc.reason, f"manifests: {exc.message}"))
            audit = scan_decisions.config_audit_report(scan, cluster, checks, secrets,
                                                       now_rfc3339())
            reports.append(await self._write(ConfigAuditReportResource, audit))
            counts = scan_decisions.add_counts(counts, scan_decisions.report_counts(audit))
        if failures:
            return TargetOutcome(target, "failed", failures[0].reason,
                                 "; ".join(f.message for f in failures), images=len(users),
                                 reports=tuple(reports), counts=counts)
        return TargetOutcome(target, "completed", images=len(users), reports=tuple(reports),
                             counts=counts)

    # -- edges ---------------------------------------------------------------------------------

    async def _write(self, resource: Any, report: dict[str, Any]) -> str:
        name: str = report["metadata"]["name"]
        await self.client.patch(resource, name, report, namespace=report["metadata"]["namespace"],
                                patch_type=PatchType.APPLY, field_manager=FIELD_MANAGER,
                                force=True)
        return name

    async def _status(self, key: Key, body: dict[str, Any], patch: dict[str, Any]) -> None:
        updated = await objects.patch_status(self.wire, SecurityScanResource, body, patch)
        body.update(updated)
        if objects.newer(updated, self.bodies.get(key)):
            self.bodies[key] = updated


def _qualified(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with its namespace in its name, so findings say where they are."""
    meta = obj["metadata"]
    return {**obj, "metadata": {**meta, "name": f"{meta.get('namespace', '')}/{meta['name']}"}}


async def _read_workloads(member: AsyncClient) -> list[dict[str, Any]]:
    """Every top-level workload (and ConfigMap) outside the kube-* namespaces."""
    found: list[dict[str, Any]] = []
    for resource in (*_WORKLOADS, ConfigMap):
        kind = api_info(resource).resource.kind
        async for item in member.list(resource, namespace="*"):
            obj = dict(item.to_dict())  # type: ignore[attr-defined]
            meta = obj.get("metadata") or {}
            if meta.get("namespace") in _SKIPPED_NAMESPACES:
                continue
            if kind in ("ReplicaSet", "Job", "Pod") and meta.get("ownerReferences"):
                continue
            if kind == "ConfigMap" and meta.get("name") == "kube-root-ca.crt":
                continue
            obj["kind"] = kind
            found.append(obj)
    return found



def register(controller_of: Callable[[kopf.Memo], SecurityScanController]) -> None:
    @kopf.on.event(GROUP, VERSION, SecurityScan.PLURAL)
    async def security_scan_event(event: Mapping[str, Any], memo: kopf.Memo,
                                  **_: Any) -> None:
        controller_of(memo).observe(event.get("type"), event["object"])
