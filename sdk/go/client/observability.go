package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MetricsService covers /v1/clusters/{id}/metrics and /v1/metrics/catalog. A server without a
// Prometheus answers 503 SERVICE_UNAVAILABLE (an *APIError), never made-up series.
type MetricsService struct{ c *Client }

// ClusterMetrics returns series per metric name; params may be nil (the server's default
// window and metrics). ClusterMetricsParams builds params from a list of metric names.
func (s *MetricsService) ClusterMetrics(ctx context.Context, clusterID string, params *GetClusterMetricsParams) (*ClusterMetricsResponse, error) {
	out := &ClusterMetricsResponse{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + url.PathEscape(clusterID) + "/metrics", params: params}, out)
}

// ClusterMetricsParams is GetClusterMetricsParams asking for the named metrics (catalogue names
// such as cpu_usage) over [start, end] (RFC 3339; empty means the server's default).
func ClusterMetricsParams(start, end, step string, metrics ...string) *GetClusterMetricsParams {
	return &GetClusterMetricsParams{Start: start, End: end, Step: step, Metrics: strings.Join(metrics, ",")}
}

// Catalog lists the metric names ClusterMetrics accepts, with their units and expressions.
func (s *MetricsService) Catalog(ctx context.Context) (*Catalog, error) {
	out := &Catalog{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/metrics/catalog"}, out)
}

// AlertsService covers /v1/alerts: the firing and pending alerts of the tenant.
type AlertsService struct{ c *Client }

func (s *AlertsService) List(ctx context.Context, params *ListAlertsParams) (*AlertList, error) {
	out := &AlertList{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/alerts", params: params}, out)
}

// AlertRulesService covers /v1/alert-rules (stored as PrometheusRule objects).
type AlertRulesService struct{ c *Client }

func (s *AlertRulesService) List(ctx context.Context, params *ListAlertRulesParams) (*AlertRuleList, error) {
	out := &AlertRuleList{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/alert-rules", params: params}, out)
}

func (s *AlertRulesService) Get(ctx context.Context, ruleID string, params *GetAlertRuleParams) (*AlertRule, error) {
	out := &AlertRule{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/alert-rules/" + url.PathEscape(ruleID), params: params}, out)
}

// Create adds a rule; a rule of that name already existing is 409 CONFLICT.
func (s *AlertRulesService) Create(ctx context.Context, body *AlertRuleBody, params *CreateAlertRuleParams) (*AlertRule, error) {
	out := &AlertRule{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: "/v1/alert-rules", params: params, body: body}, out)
}

// Replace overwrites a rule (PUT: safe to retry).
func (s *AlertRulesService) Replace(ctx context.Context, ruleID string, body *AlertRuleBody, params *ReplaceAlertRuleParams) (*AlertRule, error) {
	out := &AlertRule{}
	return out, s.c.do(ctx, request{method: http.MethodPut, path: "/v1/alert-rules/" + url.PathEscape(ruleID), params: params, body: body}, out)
}

func (s *AlertRulesService) Delete(ctx context.Context, ruleID string, params *DeleteAlertRuleParams) error {
	return s.c.do(ctx, request{method: http.MethodDelete, path: "/v1/alert-rules/" + url.PathEscape(ruleID), params: params}, nil)
}

// LogsService covers POST /v1/logs/query.
type LogsService struct{ c *Client }

// Query returns one page; pass its NextCursor as the next query's Cursor (or use Pages). A
// query only reads, so its 429/503 answers are retried although it is a POST.
func (s *LogsService) Query(ctx context.Context, query *LogQuery, params *QueryLogsParams) (*LogQueryResult, error) {
	out := &LogQueryResult{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: "/v1/logs/query", params: params, body: query, retrySafe: true}, out)
}

// Pages walks every page of query, following NextCursor until there is none, stopping at the
// first error. query.Cursor is where it starts (usually empty). A cursor is only valid for the
// time range it came from, so an unset EndTime is pinned to now for every page (the server's
// default "now" would move between pages).
func (s *LogsService) Pages(ctx context.Context, query LogQuery, params *QueryLogsParams) iter.Seq2[*LogQueryResult, error] {
	return func(yield func(*LogQueryResult, error) bool) {
		if query.EndTime.IsZero() {
			query.EndTime = time.Now().UTC()
		}
		for {
			page, err := s.Query(ctx, &query, params)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(page, nil) || page.NextCursor == "" {
				return
			}
			query.Cursor = page.NextCursor
		}
	}
}
