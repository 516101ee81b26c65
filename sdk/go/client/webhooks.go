package client

import (
	"context"
	"net/http"
	"net/url"
)

// WebhooksService covers /v1/webhooks: subscriptions, their test ping, delivery history and
// redelivery. A webhook's signing secret is write-only: no answer carries it.
type WebhooksService struct{ c *Client }

func webhookPath(webhookID string) string { return "/v1/webhooks/" + url.PathEscape(webhookID) }

func (s *WebhooksService) List(ctx context.Context, params *ListWebhooksParams) (*WebhookList, error) {
	out := &WebhookList{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/webhooks", params: params}, out)
}

func (s *WebhooksService) Get(ctx context.Context, webhookID string, params *GetWebhookParams) (*Webhook, error) {
	out := &Webhook{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: webhookPath(webhookID), params: params}, out)
}

// Create subscribes URL to Events; Active defaults to true (send client.Bool(false) to create
// it paused).
func (s *WebhooksService) Create(ctx context.Context, body *WebhookCreate, params *CreateWebhookParams) (*Webhook, error) {
	out := &Webhook{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: "/v1/webhooks", params: params, body: body}, out)
}

// Update changes the fields set in body (Active: client.Bool(false) pauses deliveries). It sets
// absolute values, so it is retried on 429/503 like a PUT.
func (s *WebhooksService) Update(ctx context.Context, webhookID string, body *WebhookPatch, params *UpdateWebhookParams) (*Webhook, error) {
	out := &Webhook{}
	return out, s.c.do(ctx, request{method: http.MethodPatch, path: webhookPath(webhookID), params: params, body: body, retrySafe: true}, out)
}

func (s *WebhooksService) Delete(ctx context.Context, webhookID string, params *DeleteWebhookParams) error {
	return s.c.do(ctx, request{method: http.MethodDelete, path: webhookPath(webhookID), params: params}, nil)
}

// Ping asks the server to send a test delivery now; it shows up in Deliveries. Never retried:
// repeating it would send another delivery.
func (s *WebhooksService) Ping(ctx context.Context, webhookID string, params *PingWebhookParams) (*Requested, error) {
	out := &Requested{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: webhookPath(webhookID) + "/ping", params: params}, out)
}

// Deliveries lists the recent delivery attempts of a webhook, newest first.
func (s *WebhooksService) Deliveries(ctx context.Context, webhookID string, params *ListWebhookDeliveriesParams) (*DeliveryList, error) {
	out := &DeliveryList{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: webhookPath(webhookID) + "/deliveries", params: params}, out)
}

// Redeliver sends a past delivery's event again (never retried, like Ping).
func (s *WebhooksService) Redeliver(ctx context.Context, webhookID, deliveryID string, params *RedeliverWebhookParams) (*Requested, error) {
	out := &Requested{}
	path := webhookPath(webhookID) + "/deliveries/" + url.PathEscape(deliveryID) + "/redeliver"
	return out, s.c.do(ctx, request{method: http.MethodPost, path: path, params: params}, out)
}
