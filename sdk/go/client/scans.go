package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// TriggerScan starts a scan (POST /v1/security/scan, 202): its Status is "pending" until the
// operator picks it up. ClusterScan builds the body for a cluster's images.
func (s *SecurityService) TriggerScan(ctx context.Context, body *ScanCreate, params *TriggerSecurityScanParams) (*ScanView, error) {
	out := &ScanView{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: "/v1/security/scan", params: params, body: body}, out)
}

// GetScan reads a scan by the ID TriggerScan returned.
func (s *SecurityService) GetScan(ctx context.Context, scanID string, params *GetSecurityScanParams) (*ScanView, error) {
	out := &ScanView{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/security/scans/" + url.PathEscape(scanID), params: params}, out)
}

// ListVulnerabilities returns what the latest scans found; params may be nil. A filter the
// server does not accept is a 400 *APIError whose Details["field"] names it.
func (s *SecurityService) ListVulnerabilities(ctx context.Context, params *ListVulnerabilitiesParams) (*VulnerabilityList, error) {
	out := &VulnerabilityList{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/security/vulnerabilities", params: params}, out)
}

// ClusterScan is the TriggerScan body scanning the images running on the named clusters; no
// scan types means all of them (vulnerabilities, secrets, misconfigurations).
func ClusterScan(scanTypes []ScanCreateScanTypes, clusterIDs ...string) *ScanCreate {
	body := &ScanCreate{ScanTypes: scanTypes}
	for _, id := range clusterIDs {
		body.Targets = append(body.Targets, ScanTargetBody{Type: Cluster, ClusterID: id})
	}
	return body
}

// WaitScan polls a scan until it is completed or failed; bound it with ctx. A failed scan is
// returned together with an error naming its reason (for example ScannerMissing). When ctx ends
// or a poll fails, the last state seen comes back with the error (nil before the first answer).
func (s *SecurityService) WaitScan(ctx context.Context, scanID string, params *GetSecurityScanParams, opts *WaitOptions) (*ScanView, error) {
	var last *ScanView
	for {
		scan, err := s.GetScan(ctx, scanID, params)
		if err != nil {
			return last, err
		}
		last = scan
		switch scan.Status {
		case "completed":
			return scan, nil
		case "failed":
			return scan, fmt.Errorf("hybridcloud: scan %s failed (%s): %s", scanID, scan.Reason, scan.Message)
		}
		if err := sleep(ctx, opts.interval()); err != nil {
			return scan, err
		}
	}
}

// ApplicationMetrics returns an application's current request rate, error rate, latency
// percentiles and CPU/memory on one cluster; a value its pods do not expose is null, with the
// reason in Unavailable. An application not placed on the cluster is 404 APPLICATION_NOT_FOUND.
func (s *MetricsService) ApplicationMetrics(ctx context.Context, clusterID, appName string, params *GetApplicationMetricsParams) (*ApplicationMetricsResponse, error) {
	out := &ApplicationMetricsResponse{}
	path := "/v1/clusters/" + url.PathEscape(clusterID) + "/applications/" + url.PathEscape(appName) + "/metrics"
	return out, s.c.do(ctx, request{method: http.MethodGet, path: path, params: params}, out)
}
