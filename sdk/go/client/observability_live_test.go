package client_test

// Metrics, alert rules, alerts, log queries and security policies through the Go SDK against
// the live API, which tests/sdk/test_go_sdk.py backs with a real Prometheus, Alertmanager and
// VictoriaLogs (the tenant's log lines seeded into it).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hybridcloud/hybridcloud-go/client"
)

func tenantClient(t *testing.T) *client.Client {
	t.Helper()
	return newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_TOKEN")})
}

func TestMetricsCatalogAndClusterMetricsComeFromPrometheus(t *testing.T) {
	c := tenantClient(t)
	ctx := context.Background()
	catalog, err := c.Metrics.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, item := range catalog.Metrics {
		names = append(names, item.Name)
	}
	if !slices.Contains(names, "cpu_usage") {
		t.Fatalf("cpu_usage is not in the catalogue: %v", names)
	}
	end := time.Now().UTC()
	series, err := c.Metrics.ClusterMetrics(ctx, "cluster-001", client.ClusterMetricsParams(
		end.Add(-10*time.Minute).Format(time.RFC3339), end.Format(time.RFC3339), "1m", "cpu_usage", "memory_usage"))
	if err != nil {
		t.Fatalf("cluster metrics from a running Prometheus: %v", err)
	}
	if _, ok := series.Metrics["cpu_usage"]; !ok {
		t.Fatalf("no cpu_usage entry: %+v", series.Metrics)
	}
	_, err = c.Metrics.ClusterMetrics(ctx, "cluster-001", client.ClusterMetricsParams("", "", "", "no_such_metric"))
	if apiErr := apiError(t, err, 400, "INVALID_REQUEST"); apiErr.Details["field"] != "metrics" {
		t.Fatalf("the 400 does not name the parameter: %+v", apiErr.Details)
	}
	_, err = c.Metrics.ClusterMetrics(ctx, "no-such-cluster", nil)
	apiError(t, err, 404, "CLUSTER_NOT_FOUND")
}

func TestAlertRulesAreCreatedReadReplacedAndDeletedAndAlertsAreListed(t *testing.T) {
	c := tenantClient(t)
	ctx := context.Background()
	body := &client.AlertRuleBody{Name: "GoSdkRule", Expression: `sum(up) > 100000`, Duration: "1m",
		Severity: client.AlertRuleBodySeverity("warning"), Description: "never fires"}
	created, err := c.AlertRules.Create(ctx, body, nil)
	if err != nil || created.ID == "" || created.Expression != body.Expression {
		t.Fatalf("create: %v %+v", err, created)
	}
	_, err = c.AlertRules.Create(ctx, body, nil)
	apiError(t, err, 409, "CONFLICT")
	got, err := c.AlertRules.Get(ctx, created.ID, nil)
	if err != nil || got.Severity != "warning" {
		t.Fatalf("get: %v %+v", err, got)
	}
	body.Severity = client.AlertRuleBodySeverity("critical")
	replaced, err := c.AlertRules.Replace(ctx, created.ID, body, nil)
	if err != nil || replaced.Severity != "critical" {
		t.Fatalf("replace: %v %+v", err, replaced)
	}
	listed, err := c.AlertRules.List(ctx, nil)
	if err != nil || listed.Total != 1 || listed.AlertRules[0].ID != created.ID {
		t.Fatalf("list: %v %+v", err, listed)
	}
	broken := *body
	broken.Name, broken.Expression = "GoSdkBroken", "sum(rate(x[5m])"
	_, err = c.AlertRules.Create(ctx, &broken, nil)
	if apiErr := apiError(t, err, 400, "INVALID_REQUEST"); apiErr.Details["field"] != "expression" {
		t.Fatalf("the 400 does not name the expression: %+v", apiErr.Details)
	}
	if err := c.AlertRules.Delete(ctx, created.ID, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.AlertRules.Get(ctx, created.ID, nil)
	if !client.IsNotFound(err) {
		t.Fatalf("a deleted rule is still there: %v", err)
	}
	// Alerts come from the running Alertmanager: none fire for this tenant.
	alerts, err := c.Alerts.List(ctx, &client.ListAlertsParams{State: client.ListAlertsParamsState("firing")})
	if err != nil || len(alerts.Alerts) != 0 {
		t.Fatalf("alerts: %v %+v", err, alerts)
	}
	_, err = c.Alerts.List(ctx, &client.ListAlertsParams{State: client.ListAlertsParamsState("sleepy")})
	apiError(t, err, 400, "INVALID_REQUEST")
}

func TestLogPagesFollowTheCursorThroughEverySeededLine(t *testing.T) {
	c := tenantClient(t)
	ctx := context.Background()
	want, _ := strconv.Atoi(env(t, "HYBRIDCLOUD_SDK_LOG_LINES"))
	query := client.LogQuery{Query: "level:error AND cluster:" + env(t, "HYBRIDCLOUD_SDK_LOG_CLUSTER"),
		StartTime: time.Now().Add(-2 * time.Hour), Limit: 2, Sort: client.Sort("timestamp:asc")}
	var messages []string
	pages := 0
	for page, err := range c.Logs.Pages(ctx, query, nil) {
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, line := range page.Logs {
			messages = append(messages, line.Message)
		}
	}
	if len(messages) != want || pages != (want+1)/2 {
		t.Fatalf("%d pages with %d lines, want every one of %d lines two per page: %v", pages, len(messages), want, messages)
	}
	for i, message := range messages {
		if message != fmt.Sprintf("ERROR sdk line %d", i) {
			t.Fatalf("line %d out of order: %v", i, messages)
		}
	}
	// A query without a start time is sent without one (not Go's zero time): the last hour.
	recent, err := c.Logs.Query(ctx, &client.LogQuery{Query: "sdk"}, nil)
	if err != nil || len(recent.Logs) != want {
		t.Fatalf("the default window: %v %+v", err, recent)
	}
	_, err = c.Logs.Query(ctx, &client.LogQuery{Query: "level:(error"}, nil)
	if apiErr := apiError(t, err, 400, "INVALID_REQUEST"); apiErr.Details["field"] != "query" {
		t.Fatalf("the 400 does not name the query: %+v", apiErr.Details)
	}
}

func TestAnExplicitFalseDisablesASecurityPolicy(t *testing.T) {
	c := tenantClient(t)
	ctx := context.Background()
	created, err := c.Security.CreatePolicy(ctx, &client.PolicyCreate{Name: "go-limits", Enabled: client.Bool(false),
		Rules:   map[string]interface{}{"require_resource_limits": map[string]interface{}{"cpu": true}},
		Targets: client.PolicyTargetsBody{Namespaces: []string{"production"}, Clusters: []string{"cluster-001"}}}, nil)
	if err != nil || created.Enabled {
		t.Fatalf("created with enabled=false: %v %+v", err, created)
	}
	enabled, err := c.Security.UpdatePolicy(ctx, created.ID, &client.PolicyPatch{Enabled: client.Bool(true)}, nil)
	if err != nil || !enabled.Enabled {
		t.Fatalf("enable: %v %+v", err, enabled)
	}
	disabled, err := c.Security.UpdatePolicy(ctx, created.ID, &client.PolicyPatch{Enabled: client.Bool(false)}, nil)
	if err != nil || disabled.Enabled {
		t.Fatalf("an explicit false did not disable the policy: %v %+v", err, disabled)
	}
	if _, err := c.Security.DeletePolicy(ctx, created.ID, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSubscribeRefusesAnUnknownEventTypeWithoutRetrying(t *testing.T) {
	c := tenantClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, err := range c.Events.Subscribe(ctx, &client.StreamEventsParams{Events: []string{"cluster.exploded"}}, nil) {
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Details["field"] != "events" {
			t.Fatalf("want a 400 naming events, got %v", err)
		}
		return
	}
	t.Fatal("the subscription ended without an error")
}
