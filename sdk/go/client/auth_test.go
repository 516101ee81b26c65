package client_test

// Token refresh timing is the SDK's own logic: a short-lived token from a local token endpoint
// shows it is fetched again before it expires (the live API's tokens live 10 minutes or more).

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridcloud/hybridcloud-go/client"
)

func TestAnOAuthTokenIsFetchedAgainBeforeItExpires(t *testing.T) {
	var issued atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			if r.FormValue("grant_type") != "client_credentials" || r.FormValue("client_secret") != "s" {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			n := issued.Add(1)
			fmt.Fprintf(w, `{"access_token":"token-%d","expires_in":2,"token_type":"Bearer"}`, n)
			return
		}
		want := fmt.Sprintf("Bearer token-%d", issued.Load())
		if r.Header.Get("Authorization") != want {
			http.Error(w, `{"error":{"code":"UNAUTHORIZED","message":"stale","details":{},"request_id":"r"}}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"clusters":[],"total":0,"page":1,"per_page":10}`)
	}))
	defer server.Close()
	c := newClient(t, client.Config{BaseURL: server.URL, ClientID: "id", ClientSecret: "s"})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Clusters.List(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if issued.Load() != 1 {
		t.Fatalf("a valid token was fetched %d times", issued.Load())
	}
	time.Sleep(1100 * time.Millisecond) // past half of the 2 s lifetime, before expiry
	if _, err := c.Clusters.List(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if issued.Load() != 2 {
		t.Fatalf("the token was not renewed before expiry (%d fetches)", issued.Load())
	}
}
