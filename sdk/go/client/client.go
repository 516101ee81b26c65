// Package client is the Go SDK of the hybridcloud REST API: net/http plus the models generated
// from the API's OpenAPI document (types.gen.go). One service per resource hangs off Client.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures a Client. BaseURL is required, plus either APIKey (a bearer token) or
// ClientID and ClientSecret (OAuth client credentials, exchanged at /oauth/token).
type Config struct {
	BaseURL      string
	APIKey       string
	ClientID     string
	ClientSecret string
	// Namespace is the tenant namespace sent as X-Tenant-Namespace when a call names none;
	// empty means the caller's own ServiceAccount namespace.
	Namespace string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxRetries bounds retries of idempotent requests answered 429 or 503 (default 4;
	// negative disables retries).
	MaxRetries int
	// MaxBackoff caps a single wait between retries, Retry-After included (default 30 s).
	MaxBackoff time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// Client talks to one hybridcloud API. It is safe for concurrent use.
type Client struct {
	baseURL    *url.URL
	http       *http.Client
	auth       *authenticator
	namespace  string
	maxRetries int
	maxBackoff time.Duration
	userAgent  string

	Clusters     *ClustersService
	Applications *ApplicationsService
	Workloads    *WorkloadsService
	MultiCluster *MultiClusterService
	Operations   *OperationsService
	Security     *SecurityService
	Metrics      *MetricsService
	Alerts       *AlertsService
	AlertRules   *AlertRulesService
	Logs         *LogsService
	Webhooks     *WebhooksService
	Events       *EventsService
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("hybridcloud: Config.BaseURL is required")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("hybridcloud: Config.BaseURL %q is not an absolute URL", cfg.BaseURL)
	}
	hasKey := cfg.APIKey != ""
	hasCredentials := cfg.ClientID != "" || cfg.ClientSecret != ""
	if hasKey == hasCredentials {
		return nil, errors.New("hybridcloud: set either Config.APIKey or Config.ClientID and Config.ClientSecret")
	}
	if hasCredentials && (cfg.ClientID == "" || cfg.ClientSecret == "") {
		return nil, errors.New("hybridcloud: OAuth needs both Config.ClientID and Config.ClientSecret")
	}
	c := &Client{
		baseURL:    base,
		http:       cfg.HTTPClient,
		namespace:  cfg.Namespace,
		maxRetries: cfg.MaxRetries,
		maxBackoff: cfg.MaxBackoff,
		userAgent:  cfg.UserAgent,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.maxRetries == 0 {
		c.maxRetries = 4
	}
	if c.maxBackoff == 0 {
		c.maxBackoff = 30 * time.Second
	}
	if c.userAgent == "" {
		c.userAgent = "hybridcloud-go/0.1"
	}
	c.auth = &authenticator{client: c, staticToken: cfg.APIKey, clientID: cfg.ClientID, clientSecret: cfg.ClientSecret}
	c.Clusters = &ClustersService{c}
	c.Applications = &ApplicationsService{c}
	c.Workloads = &WorkloadsService{c}
	c.MultiCluster = &MultiClusterService{c}
	c.Operations = &OperationsService{c}
	c.Security = &SecurityService{c}
	c.Metrics = &MetricsService{c}
	c.Alerts = &AlertsService{c}
	c.AlertRules = &AlertRulesService{c}
	c.Logs = &LogsService{c}
	c.Webhooks = &WebhooksService{c}
	c.Events = &EventsService{c}
	return c, nil
}

// request describes one API call.
type request struct {
	method string
	path   string
	params any // a generated *Params struct (query from `form` tags, headers) or nil
	body   any
	form   url.Values // an urlencoded body instead of JSON (the token endpoint)
	noAuth bool
	// retrySafe marks a POST or PATCH that may be repeated (a read-only query, setting an
	// absolute value), so 429/503 answers to it are retried like those to a GET.
	retrySafe bool
}

// idempotent methods may be retried: repeating them cannot apply a change twice.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// do sends req, retrying 429/503 answers to idempotent methods, and decodes a 2xx body into out.
func (c *Client) do(ctx context.Context, req request, out any) error {
	resp, err := c.exchange(ctx, c.http, req, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("hybridcloud: decoding the %s %s response: %w", req.method, req.path, err)
	}
	return nil
}

// exchange sends req with httpClient, retrying 429/503 answers to idempotent requests, and
// returns the first 2xx response with its body unread (the caller closes it).
func (c *Client) exchange(ctx context.Context, httpClient *http.Client, req request, accept string) (*http.Response, error) {
	var payload []byte
	contentType := ""
	switch {
	case req.form != nil:
		payload, contentType = []byte(req.form.Encode()), "application/x-www-form-urlencoded"
	case req.body != nil:
		var err error
		if payload, err = json.Marshal(req.body); err != nil {
			return nil, fmt.Errorf("hybridcloud: encoding the request body: %w", err)
		}
		contentType = "application/json"
	}
	target := *c.baseURL
	target.Path += req.path
	header := http.Header{}
	if req.params != nil {
		query, err := encodeParams(req.params, header)
		if err != nil {
			return nil, err
		}
		target.RawQuery = query.Encode()
	}
	if header.Get("X-Tenant-Namespace") == "" && c.namespace != "" {
		header.Set("X-Tenant-Namespace", c.namespace)
	}
	header.Set("Accept", accept)
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, httpClient, req, target.String(), header, contentType, payload)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		apiErr := decodeError(resp)
		retryable := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
		if !retryable || !(req.retrySafe || idempotent(req.method)) || attempt >= c.maxRetries {
			return nil, apiErr
		}
		if err := sleep(ctx, c.backoff(attempt, apiErr.RetryAfter)); err != nil {
			return nil, err
		}
	}
}

func (c *Client) send(ctx context.Context, httpClient *http.Client, req request, target string,
	header http.Header, contentType string, payload []byte) (*http.Response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("hybridcloud: building the request: %w", err)
	}
	for name, values := range header {
		httpReq.Header[name] = values
	}
	httpReq.Header.Set("User-Agent", c.userAgent)
	if contentType != "" {
		httpReq.Header.Set("Content-Type", contentType)
	}
	if !req.noAuth {
		token, err := c.auth.token(ctx)
		if err != nil {
			return nil, err
		}
		httpReq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(httpReq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ConnectionError{Err: err}
	}
	return resp, nil
}

// backoff is the wait before retry number attempt+1: the server's Retry-After when it gave one,
// else exponential from 250 ms with jitter (so a crowd of clients does not retry in lockstep).
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	wait := retryAfter
	if wait <= 0 {
		base := 250 * time.Millisecond << attempt
		wait = base/2 + time.Duration(rand.Int64N(int64(base/2)+1))
	}
	return min(wait, c.maxBackoff)
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(value string) time.Duration {
	if value == "" {
		return 0
	}
	if seconds, err := strconv.Atoi(strings.TrimSpace(value)); err == nil && seconds >= 0 {
		return time.Duration(seconds) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil {
		return max(time.Until(at), 0)
	}
	return 0
}
