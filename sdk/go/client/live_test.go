package client_test

// These tests run against a live API: tests/sdk/test_go_sdk.py starts the real API on the real
// control plane and passes its address and credentials in HYBRIDCLOUD_SDK_* variables. Without
// them (a plain `go test` on a laptop) they skip.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridcloud/hybridcloud-go/client"
)

func env(t *testing.T, name string) string {
	t.Helper()
	value := os.Getenv(name)
	if value == "" {
		t.Skipf("%s is not set: run through tests/sdk/test_go_sdk.py against a live API", name)
	}
	return value
}

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

func apiError(t *testing.T, err error, status int, code string) *client.APIError {
	t.Helper()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want an *APIError %d %s, got %v", status, code, err)
	}
	if apiErr.StatusCode != status || apiErr.Code != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, apiErr.StatusCode, apiErr.Code, apiErr.Message)
	}
	if apiErr.RequestID == "" || apiErr.Message == "" || apiErr.Details == nil {
		t.Fatalf("the error lacks request_id, message or details: %+v", apiErr)
	}
	return apiErr
}

// The contract's Go example, verbatim but for the base URL and the API key.
func TestContractExampleListsClustersAndDeploysAnApplication(t *testing.T) {
	baseURL, apiKey := env(t, "HYBRIDCLOUD_SDK_BASE_URL"), env(t, "HYBRIDCLOUD_SDK_TOKEN")
	cfg := client.Config{
		BaseURL: baseURL,
		APIKey:  apiKey,
	}

	c, err := client.New(cfg)
	if err != nil {
		panic(err)
	}

	ctx := context.Background()

	// List clusters
	clusters, err := c.Clusters.List(ctx, nil)
	if err != nil {
		panic(err)
	}

	t.Logf("Found %d clusters\n", len(clusters.Clusters))

	// Deploy application
	app, err := c.Applications.Deploy(ctx, "cluster-001", &client.ApplicationDeployRequest{
		Name:      "sample-app",
		Namespace: "production",
		Source: client.ApplicationSource{
			Repository: "https://github.com/example/app.git",
			Path:       "k8s",
			Revision:   "main",
		},
		Values: map[string]interface{}{
			"image": map[string]interface{}{
				"tag": "v1.2.3",
			},
			"replicas": 3,
		},
	})
	if err != nil {
		panic(err)
	}

	t.Logf("Deployed application: %s\n", app.ID)

	// Beyond printing: what the example did is really on the server.
	if len(clusters.Clusters) == 0 || clusters.Clusters[0].ID != "cluster-001" {
		t.Fatalf("cluster-001 is not listed: %+v", clusters.Clusters)
	}
	if app.ID != "sample-app" || app.Status != "creating" || app.OperationID == "" {
		t.Fatalf("unexpected deploy answer: %+v", app)
	}
	listed, err := c.Applications.List(ctx, "cluster-001", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range listed.Applications {
		found = found || a.ID == "sample-app"
	}
	if !found {
		t.Fatalf("sample-app is not listed after the deploy: %+v", listed.Applications)
	}
	op, err := c.Operations.Get(ctx, app.OperationID)
	if err != nil || op.ID != app.OperationID {
		t.Fatalf("the deploy's operation cannot be read: %v %+v", err, op)
	}
}

func TestClustersGetCreateUpdateDeleteAndMultiClusterStatus(t *testing.T) {
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_TOKEN")})
	ctx := context.Background()
	details, err := c.Clusters.Get(ctx, "cluster-001", nil)
	if err != nil || details.ID != "cluster-001" || details.Status != "active" {
		t.Fatalf("get cluster-001: %v %+v", err, details)
	}
	created, err := c.Clusters.Create(ctx, &client.ClusterCreate{
		Name: "go-sdk-made", Provider: client.Provider("local"),
		Configuration: client.ClusterConfigurationIn{NodePools: []client.NodePoolIn{{Name: "workers", Size: 1}}},
	}, nil)
	if err != nil || created.ID != "go-sdk-made" || created.Status != "creating" {
		t.Fatalf("create: %v %+v", err, created)
	}
	_, err = c.Clusters.Create(ctx, &client.ClusterCreate{Name: "go-sdk-made", Provider: client.Provider("local"),
		Configuration: client.ClusterConfigurationIn{NodePools: []client.NodePoolIn{{Name: "workers", Size: 1}}}}, nil)
	apiError(t, err, 409, "CONFLICT")
	updated, err := c.Clusters.Update(ctx, "go-sdk-made", &client.ClusterPatch{Labels: map[string]string{"team": "go"}}, nil)
	if err != nil || updated.ID != "go-sdk-made" || updated.OperationID == "" {
		t.Fatalf("update: %v %+v", err, updated)
	}
	deleted, err := c.Clusters.Delete(ctx, "go-sdk-made", nil)
	if err != nil || deleted.Status != "deleting" || deleted.OperationID == "" {
		t.Fatalf("delete: %v %+v", err, deleted)
	}
	status, err := c.MultiCluster.Status(ctx, nil)
	if err != nil || status.Clusters.Total < 1 {
		t.Fatalf("multi-cluster status: %v %+v", err, status)
	}
	policies, err := c.Security.ListPolicies(ctx, nil)
	if err != nil || policies == nil {
		t.Fatalf("security policies: %v", err)
	}
}

func TestPaginationIteratesEveryClusterAcrossPages(t *testing.T) {
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_TOKEN")})
	ctx := context.Background()
	firstPage, err := c.Clusters.List(ctx, &client.ListClustersParams{PerPage: 1})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for cluster, err := range c.Clusters.All(ctx, &client.ListClustersParams{PerPage: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		seen[cluster.ID] = true
	}
	if firstPage.Total < 2 || len(seen) != firstPage.Total {
		t.Fatalf("iterated %d distinct clusters, the server has %d", len(seen), firstPage.Total)
	}
}

func TestWaitHelpersReturnOnceTheClusterIsActive(t *testing.T) {
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_TOKEN")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cluster, err := c.Clusters.WaitUntilReady(ctx, "cluster-001", nil, &client.WaitOptions{Interval: 100 * time.Millisecond})
	if err != nil || cluster.Status != "active" {
		t.Fatalf("wait until ready: %v", err)
	}
	// A cluster that never becomes active: the wait ends with the context, not never.
	_, _ = c.Clusters.Create(ctx, &client.ClusterCreate{Name: "go-sdk-pending", Provider: client.Provider("local"),
		Configuration: client.ClusterConfigurationIn{NodePools: []client.NodePoolIn{{Name: "workers", Size: 1}}}}, nil)
	short, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	_, err = c.Clusters.WaitUntilReady(short, "go-sdk-pending", nil, &client.WaitOptions{Interval: 100 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the context's deadline, got %v", err)
	}
}

func TestOAuthClientCredentialsAreExchangedForAToken(t *testing.T) {
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"),
		ClientID: env(t, "HYBRIDCLOUD_SDK_CLIENT_ID"), ClientSecret: env(t, "HYBRIDCLOUD_SDK_CLIENT_SECRET")})
	if _, err := c.Clusters.List(context.Background(), nil); err != nil {
		t.Fatalf("list with an OAuth token: %v", err)
	}
	wrong := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"),
		ClientID: env(t, "HYBRIDCLOUD_SDK_CLIENT_ID"), ClientSecret: "wrong"})
	_, err := wrong.Clusters.List(context.Background(), nil)
	apiError(t, err, 401, "UNAUTHORIZED")
}

func TestAnExpiredTokenIsA401UnauthorizedError(t *testing.T) {
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_EXPIRED_TOKEN")})
	_, err := c.Clusters.List(context.Background(), nil)
	apiError(t, err, 401, "UNAUTHORIZED")
}

func TestACallerWithoutRBACGetsA403ForbiddenError(t *testing.T) {
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_UNBOUND_TOKEN")})
	_, err := c.Clusters.List(context.Background(), nil)
	apiError(t, err, 403, "FORBIDDEN")
}

func TestAMissingClusterIsA404ClusterNotFoundError(t *testing.T) {
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_TOKEN")})
	_, err := c.Clusters.Get(context.Background(), "no-such-cluster", nil)
	apiErr := apiError(t, err, 404, "CLUSTER_NOT_FOUND")
	if !client.IsNotFound(err) || apiErr.Details["cluster_id"] != "no-such-cluster" {
		t.Fatalf("details do not name the cluster: %+v", apiErr.Details)
	}
}

// countingTransport counts the 429 answers that pass through it.
type countingTransport struct{ limited atomic.Int32 }

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		t.limited.Add(1)
	}
	return resp, err
}

func TestA429StormIsRiddenOutByBackingOffThenSucceeds(t *testing.T) {
	transport := &countingTransport{}
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_LIMITED_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_LIMITED_TOKEN"),
		HTTPClient: &http.Client{Transport: transport, Timeout: 30 * time.Second}, MaxRetries: 10})
	ctx := context.Background()
	// The limited API allows a burst of 100 and refills one request per second: keep calling
	// until the server has answered 429, then a few more, every call succeeding.
	afterStorm := 0
	for i := 0; afterStorm < 3; i++ {
		if i > 300 {
			t.Fatal("the server never answered 429: the storm did not happen")
		}
		if _, err := c.Clusters.List(ctx, nil); err != nil {
			t.Fatalf("request %d failed instead of backing off: %v", i, err)
		}
		if transport.limited.Load() > 0 {
			afterStorm++
		}
	}
	// A POST is not idempotent: its 429 is returned after one request, never retried. The bucket
	// refills continuously, so drain it first and try again on the rare refill in between.
	drain := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_LIMITED_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_LIMITED_TOKEN"), MaxRetries: -1})
	for attempt := 0; ; attempt++ {
		if attempt == 5 {
			t.Fatal("a POST never met an empty bucket")
		}
		for {
			if _, err := drain.Clusters.List(ctx, nil); err != nil {
				apiError(t, err, 429, "RATE_LIMITED")
				break
			}
		}
		before := transport.limited.Load()
		_, err := c.Clusters.Create(ctx, &client.ClusterCreate{Name: fmt.Sprintf("never-%d", attempt), Provider: client.Provider("local"),
			Configuration: client.ClusterConfigurationIn{NodePools: []client.NodePoolIn{{Name: "w", Size: 1}}}}, nil)
		if err == nil {
			continue // a token refilled between the drain and the POST
		}
		apiErr := apiError(t, err, 429, "RATE_LIMITED")
		if apiErr.RetryAfter <= 0 || transport.limited.Load() != before+1 {
			t.Fatalf("the POST was retried or Retry-After not read: %+v", apiErr)
		}
		break
	}
}

func TestAnAPIThatIsDownIsAConnectionError(t *testing.T) {
	env(t, "HYBRIDCLOUD_SDK_BASE_URL")
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close() // nothing listens there any more
	c := newClient(t, client.Config{BaseURL: "http://" + address, APIKey: "x", MaxRetries: -1})
	_, err = c.Clusters.List(context.Background(), nil)
	var down *client.ConnectionError
	if !errors.As(err, &down) {
		t.Fatalf("want a ConnectionError, got %v", err)
	}
}

func TestACancelledContextStopsTheCall(t *testing.T) {
	c := newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_TOKEN")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Clusters.List(ctx, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestNewRejectsAConfigWithoutBaseURLOrCredentials(t *testing.T) {
	for _, cfg := range []client.Config{{APIKey: "k"}, {BaseURL: "http://x"}, {BaseURL: "http://x", ClientID: "id"},
		{BaseURL: "not a url", APIKey: "k"}} {
		if _, err := client.New(cfg); err == nil {
			t.Fatalf("accepted %+v", cfg)
		}
	}
}
