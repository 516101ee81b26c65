package client

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// authenticator hands out the bearer token: the static API key, or an OAuth client-credentials
// token fetched from /oauth/token and fetched again shortly before it expires.
type authenticator struct {
	client       *Client
	staticToken  string
	clientID     string
	clientSecret string

	mu      sync.Mutex
	current string
	expires time.Time
}

// refreshMargin renews a token this long before its expiry (or after half its lifetime, if
// shorter), so a request never leaves with a token that dies in flight.
const refreshMargin = 60 * time.Second

func (a *authenticator) token(ctx context.Context) (string, error) {
	if a.staticToken != "" {
		return a.staticToken, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current != "" && time.Now().Before(a.expires) {
		return a.current, nil
	}
	var issued Token
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {a.clientID}, "client_secret": {a.clientSecret}}
	err := a.client.do(ctx, request{method: http.MethodPost, path: "/oauth/token", form: form, noAuth: true}, &issued)
	if err != nil {
		return "", err
	}
	lifetime := time.Duration(issued.ExpiresIn) * time.Second
	a.current = issued.AccessToken
	a.expires = time.Now().Add(lifetime - min(refreshMargin, lifetime/2))
	return a.current, nil
}
