"""lightkube resource classes for the platform's custom resources."""

from __future__ import annotations

from lightkube.generic_resource import create_global_resource, create_namespaced_resource

from .. import GROUP, VERSION
from ..models import (
    HybridCluster,
    MultiClusterApplication,
    SecurityPolicy,
    TenantPolicy,
    WebhookSubscription,
)
from ..models.securityscan import ConfigAuditReport, SecurityScan, VulnerabilityReport

HybridClusterResource = create_namespaced_resource(
    GROUP, VERSION, HybridCluster.KIND, HybridCluster.PLURAL)
MultiClusterApplicationResource = create_namespaced_resource(
    GROUP, VERSION, MultiClusterApplication.KIND, MultiClusterApplication.PLURAL)
SecurityPolicyResource = create_namespaced_resource(
    GROUP, VERSION, SecurityPolicy.KIND, SecurityPolicy.PLURAL)

TenantPolicyResource = create_global_resource(
    GROUP, VERSION, TenantPolicy.KIND, TenantPolicy.PLURAL)

WebhookSubscriptionResource = create_namespaced_resource(
    GROUP, VERSION, WebhookSubscription.KIND, WebhookSubscription.PLURAL)

# scans (issue 16)
SecurityScanResource = create_namespaced_resource(
    GROUP, VERSION, SecurityScan.KIND, SecurityScan.PLURAL)
VulnerabilityReportResource = create_namespaced_resource(
    GROUP, VERSION, VulnerabilityReport.KIND, VulnerabilityReport.PLURAL)
ConfigAuditReportResource = create_namespaced_resource(
    GROUP, VERSION, ConfigAuditReport.KIND, ConfigAuditReport.PLURAL)

__all__ = ["ConfigAuditReportResource", "HybridClusterResource",
           "MultiClusterApplicationResource", "SecurityPolicyResource", "SecurityScanResource",
           "TenantPolicyResource", "VulnerabilityReportResource", "WebhookSubscriptionResource"]
