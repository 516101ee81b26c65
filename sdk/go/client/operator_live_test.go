package client_test

// The Go SDK with the real operator behind the API (tests/sdk/test_go_sdk.py runs it on the
// HYBRIDCLOUD_SDK_OPERATOR_NAMESPACE namespace): a `local` cluster becomes a real member control
// plane, an application is delivered to it from git, their transitions arrive over the event
// stream, and webhook pings reach a receiver.

import (
	"context"
	"testing"
	"time"

	"github.com/hybridcloud/hybridcloud-go/client"
)

func operatedClient(t *testing.T) *client.Client {
	t.Helper()
	return newClient(t, client.Config{BaseURL: env(t, "HYBRIDCLOUD_SDK_BASE_URL"), APIKey: env(t, "HYBRIDCLOUD_SDK_TOKEN"),
		Namespace: env(t, "HYBRIDCLOUD_SDK_OPERATOR_NAMESPACE")})
}

// collect ranges over a subscription in the background; the channel closes when it ends.
func collect(ctx context.Context, c *client.Client, params *client.StreamEventsParams) <-chan client.Event {
	out := make(chan client.Event, 100)
	go func() {
		defer close(out)
		for event, err := range c.Events.Subscribe(ctx, params, nil) {
			if err != nil {
				return
			}
			out <- event
		}
	}()
	return out
}

func awaitEvent(t *testing.T, events <-chan client.Event, eventType string, seen *[]client.Event) client.Event {
	t.Helper()
	for event := range events {
		*seen = append(*seen, event)
		if event.Type == eventType {
			return event
		}
	}
	t.Fatalf("the stream ended before a %s event; seen %+v", eventType, *seen)
	return client.Event{}
}

func TestALocalClusterIsBuiltAndAnApplicationDeliveredThroughTheOperator(t *testing.T) {
	c := operatedClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	events := collect(streamCtx, c, &client.StreamEventsParams{Clusters: []string{"go-live"}})
	time.Sleep(time.Second) // let the subscription connect before the first transition

	created, err := c.Clusters.Create(ctx, &client.ClusterCreate{Name: "go-live", Provider: client.Provider("local"),
		Version: "v1.37.2", Configuration: client.ClusterConfigurationIn{NodePools: []client.NodePoolIn{{Name: "workers", Size: 1}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fast := &client.WaitOptions{Interval: 500 * time.Millisecond}
	op, err := c.Operations.Wait(ctx, created.OperationID, fast)
	if err != nil || op.Status != "succeeded" {
		t.Fatalf("the create operation: %v %+v", err, op)
	}
	cluster, err := c.Clusters.WaitUntilReady(ctx, "go-live", nil, fast)
	if err != nil || cluster.Status != "active" || cluster.Nodes.Worker != 1 {
		t.Fatalf("wait until ready: %v %+v", err, cluster)
	}

	var seen []client.Event
	ready := awaitEvent(t, events, "cluster.ready", &seen)
	if ready.Data["cluster_id"] != "go-live" || ready.ID == "" {
		t.Fatalf("the ready event does not name the cluster: %+v", ready)
	}
	// Resuming after the first event seen replays what followed it from the server's history.
	if len(seen) > 1 {
		resumeCtx, stopResume := context.WithTimeout(ctx, 30*time.Second)
		replayed := collect(resumeCtx, c, &client.StreamEventsParams{Clusters: []string{"go-live"}, LastEventID: seen[0].ID})
		var again []client.Event
		awaitEvent(t, replayed, "cluster.ready", &again)
		stopResume()
		if again[0].ID != seen[1].ID {
			t.Fatalf("the resumed stream did not start after %s: %+v", seen[0].ID, again)
		}
	}

	deployed, err := c.Applications.Deploy(ctx, "go-live", &client.ApplicationDeployRequest{
		Name: "sample-app", Namespace: "shop",
		Source: client.ApplicationSource{Repository: env(t, "HYBRIDCLOUD_SDK_REPO_URL"), Path: "k8s", Revision: "main"},
		Values: map[string]interface{}{"replicas": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	op, err = c.Operations.Wait(ctx, deployed.OperationID, fast)
	if err != nil || op.Status != "succeeded" {
		t.Fatalf("the deploy operation: %v %+v", err, op)
	}
	apps, err := c.Applications.List(ctx, "go-live", nil)
	if err != nil || len(apps.Applications) != 1 || apps.Applications[0].SyncStatus != "synced" {
		t.Fatalf("the application is not synced: %v %+v", err, apps)
	}
	awaitEvent(t, events, "application.deployed", &seen)
	// The delivered app's metrics from the stack's Prometheus: its workloads are found on the
	// member, and each figure is a value or null with the reason (kwok pods serve no HTTP series).
	metrics, err := c.Metrics.ApplicationMetrics(ctx, "go-live", "sample-app", nil)
	if err != nil || metrics.Application != "sample-app" {
		t.Fatalf("application metrics: %v %+v", err, metrics)
	}
	for name, value := range map[string]string{"request_rate": metrics.Metrics.RequestRate,
		"response_time": metrics.Metrics.ResponseTime.P50, "resource_usage": metrics.Metrics.ResourceUsage.CPU} {
		reason := metrics.Unavailable[name]
		if (value == "" && reason == "") || reason == "the application has no workloads on this cluster" {
			t.Fatalf("%s: value %q, reason %q: %+v", name, value, reason, metrics)
		}
	}

	deleted, err := c.Clusters.Delete(ctx, "go-live", nil)
	if err != nil {
		t.Fatal(err)
	}
	if op, err := c.Operations.Wait(ctx, deleted.OperationID, fast); err != nil || op.Status != "succeeded" {
		t.Fatalf("the delete operation: %v %+v", err, op)
	}
}

func TestAWebhookIsCreatedPausedByAnExplicitFalsePingedAndRedelivered(t *testing.T) {
	c := operatedClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hook, err := c.Webhooks.Create(ctx, &client.WebhookCreate{URL: env(t, "HYBRIDCLOUD_SDK_WEBHOOK_URL"),
		Secret: env(t, "HYBRIDCLOUD_SDK_WEBHOOK_SECRET"), Events: []client.EventType{"cluster.ready"},
		Active: client.Bool(false)}, nil)
	if err != nil || hook.Active {
		t.Fatalf("created with active=false: %v %+v", err, hook)
	}
	hook, err = c.Webhooks.Update(ctx, hook.ID, &client.WebhookPatch{Active: client.Bool(true)}, nil)
	if err != nil || !hook.Active {
		t.Fatalf("activate: %v %+v", err, hook)
	}
	listed, err := c.Webhooks.List(ctx, nil)
	if err != nil || listed.Total != 1 || listed.Webhooks[0].ID != hook.ID {
		t.Fatalf("list: %v %+v", err, listed)
	}
	ping, err := c.Webhooks.Ping(ctx, hook.ID, nil)
	if err != nil || ping.DeliveryID == "" {
		t.Fatalf("ping: %v %+v", err, ping)
	}
	first := awaitDelivery(ctx, t, c, hook.ID, ping.DeliveryID)
	if first.Event != "ping" {
		t.Fatalf("the ping's delivery: %+v", first)
	}
	again, err := c.Webhooks.Redeliver(ctx, hook.ID, first.ID, nil)
	if err != nil || again.Status != "queued" || again.DeliveryID == "" || again.DeliveryID == first.ID {
		t.Fatalf("redeliver: %v %+v", err, again)
	}
	second := awaitDelivery(ctx, t, c, hook.ID, again.DeliveryID)
	if second.EventID != first.EventID {
		t.Fatalf("a redelivery carries the same event: %+v %+v", first, second)
	}
	if err := c.Webhooks.Delete(ctx, hook.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Webhooks.Get(ctx, hook.ID, nil); !client.IsNotFound(err) {
		t.Fatalf("a deleted webhook is still there: %v", err)
	}
}

// awaitDelivery polls the delivery history until the operator has recorded deliveryID as
// succeeded (the receiver answers 2xx); a failed delivery fails the test at once.
func awaitDelivery(ctx context.Context, t *testing.T, c *client.Client, webhookID, deliveryID string) client.Delivery {
	t.Helper()
	for {
		list, err := c.Webhooks.Deliveries(ctx, webhookID, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, delivery := range list.Deliveries {
			if delivery.ID == deliveryID && delivery.Status == "succeeded" {
				return delivery
			}
			if delivery.ID == deliveryID && delivery.Status == "failed" {
				t.Fatalf("delivery %s failed: %+v", deliveryID, delivery)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("delivery %s never succeeded: %+v", deliveryID, list.Deliveries)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
