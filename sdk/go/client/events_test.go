package client_test

// The SSE reader's own rules against a small local event-stream server (the live stream is in
// operator_live_test.go): frame parsing, a dropped connection resumed with Last-Event-ID after
// the last event, the server's retry: delay, and a refused first connection ending the stream.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hybridcloud/hybridcloud-go/client"
)

func TestSubscribeParsesFramesAndResumesAfterTheLastEventSeen(t *testing.T) {
	var mu sync.Mutex
	var requests []*http.Request
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r)
		n := len(requests)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 { // two events, then the connection drops
			fmt.Fprint(w, ": connected\nretry: 10\n\nid: e1\nevent: cluster.created\ndata: {\"id\":\"e1\",\"event\":\"cluster.created\",\n"+
				"data: \"timestamp\":\"t1\",\"data\":{\"cluster_id\":\"c1\"}}\n\n"+
				"id: e2\nevent: cluster.ready\ndata: {\"data\":{\"cluster_id\":\"c1\"}}\n\n")
			return
		}
		fmt.Fprint(w, "id: e3\r\nevent: cluster.scaled\r\ndata: {\"data\":{\"cluster_id\":\"c1\"}}\r\n\r\n")
	}))
	defer server.Close()
	c := newClient(t, client.Config{BaseURL: server.URL, APIKey: "secret-token"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []client.Event
	for event, err := range c.Events.Subscribe(ctx, &client.StreamEventsParams{Clusters: []string{"c1", "c2"},
		Events: []string{"cluster.ready"}}, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if got = append(got, event); len(got) == 3 {
			break
		}
	}
	want := []string{"e1 cluster.created c1 t1", "e2 cluster.ready c1 ", "e3 cluster.scaled c1 "}
	for i, event := range got {
		if line := fmt.Sprintf("%s %s %s %s", event.ID, event.Type, event.Data["cluster_id"], event.Timestamp); line != want[i] {
			t.Fatalf("event %d: %q, want %q", i, line, want[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	first, second := requests[0], requests[1]
	if first.URL.RawQuery != "clusters=c1&clusters=c2&events=cluster.ready" || first.Header.Get("Last-Event-ID") != "" ||
		first.Header.Get("Authorization") != "Bearer secret-token" || first.Header.Get("Accept") != "text/event-stream" {
		t.Fatalf("first request: %s %v", first.URL.RawQuery, first.Header)
	}
	if second.Header.Get("Last-Event-ID") != "e2" {
		t.Fatalf("the reconnection did not resume after e2: %v", second.Header)
	}
}

func TestSubscribeEndsWithTheErrorOfARefusedFirstConnection(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"NOT_FOUND","message":"no route","details":{},"request_id":"r"}}`)
	}))
	defer server.Close()
	c := newClient(t, client.Config{BaseURL: server.URL, APIKey: "k"})
	events := 0
	for _, err := range c.Events.Subscribe(context.Background(), nil, nil) {
		if err == nil {
			events++
			continue
		}
		if !errors.Is(err, client.ErrNotAvailable) || events != 0 {
			t.Fatalf("want a not-available error and no events, got %v after %d events", err, events)
		}
		return
	}
	t.Fatal("the subscription ended without an error")
}

func TestSubscribeStopsWithItsContext(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a stream with nothing to say
	}))
	defer server.Close()
	c := newClient(t, client.Config{BaseURL: server.URL, APIKey: "k"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	for _, err := range c.Events.Subscribe(ctx, nil, nil) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want the context's deadline, got %v", err)
		}
		return
	}
	t.Fatal("the subscription ended without an error")
}
