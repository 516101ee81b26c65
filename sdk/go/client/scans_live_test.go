package client_test

// Security scans, vulnerabilities and application metrics through the Go SDK against the live
// API. No operator watches the tenant namespace of tests/sdk/test_go_sdk.py, so a scan started
// there stays pending: that is what is read back (the scan controller is tested in
// tests/integration/test_security_scans.py).

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hybridcloud/hybridcloud-go/client"
)

func TestAScanOfARegisteredClusterIsStartedAndReadBackByID(t *testing.T) {
	c := tenantClient(t)
	ctx := context.Background()
	started, err := c.Security.TriggerScan(ctx, client.ClusterScan([]client.ScanCreateScanTypes{client.Vulnerabilities}, "cluster-001"), nil)
	if err != nil || started.ID == "" || started.Status != "pending" {
		t.Fatalf("trigger: %v %+v", err, started)
	}
	read, err := c.Security.GetScan(ctx, started.ID, nil)
	if err != nil || read.ID != started.ID || read.Status != "pending" || len(read.ScanTypes) != 1 || read.ScanTypes[0] != "vulnerabilities" {
		t.Fatalf("get: %v %+v", err, read)
	}
	if len(read.Targets) != 1 || read.Targets[0]["cluster_id"] != "cluster-001" {
		t.Fatalf("the scan's target: %+v", read.Targets)
	}
	// Nobody runs it here: WaitScan keeps polling until the context ends, returning the last state.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	last, err := c.Security.WaitScan(short, started.ID, nil, &client.WaitOptions{Interval: 100 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || last == nil || last.Status != "pending" {
		t.Fatalf("wait: %v %+v", err, last)
	}
	_, err = c.Security.GetScan(ctx, "scan-000000000000", nil)
	if apiErr := apiError(t, err, 404, "NOT_FOUND"); apiErr.Details["scan_id"] != "scan-000000000000" {
		t.Fatalf("the 404 does not name the scan: %+v", apiErr)
	}
	_, err = c.Security.TriggerScan(ctx, client.ClusterScan(nil, "no-such-cluster"), nil)
	apiError(t, err, 404, "CLUSTER_NOT_FOUND")
}

func TestVulnerabilitiesAreFilteredAndABadFilterIsA400NamingIt(t *testing.T) {
	c := tenantClient(t)
	ctx := context.Background()
	found, err := c.Security.ListVulnerabilities(ctx, &client.ListVulnerabilitiesParams{Severity: "critical,high", Fixed: "true", Cluster: "cluster-001"})
	if err != nil || len(found.Vulnerabilities) != 0 {
		t.Fatalf("no scan ran here, nothing is found: %v %+v", err, found)
	}
	for field, params := range map[string]*client.ListVulnerabilitiesParams{
		"severity": {Severity: "urgent"},
		"fixed":    {Fixed: "maybe"},
	} {
		_, err := c.Security.ListVulnerabilities(ctx, params)
		if apiErr := apiError(t, err, 400, "INVALID_REQUEST"); apiErr.Details["field"] != field {
			t.Fatalf("the 400 does not name %s: %+v", field, apiErr)
		}
	}
}

func TestApplicationMetricsOfAnAppNotOnTheClusterAreA404(t *testing.T) {
	c := tenantClient(t)
	_, err := c.Metrics.ApplicationMetrics(context.Background(), "cluster-001", "no-such-app", nil)
	apiErr := apiError(t, err, 404, "APPLICATION_NOT_FOUND")
	if apiErr.Details["application"] != "no-such-app" {
		t.Fatalf("the 404 does not name the application: %+v", apiErr)
	}
}
