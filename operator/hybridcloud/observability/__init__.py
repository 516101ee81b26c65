"""Observability: the platform's own metrics; the fleet's metrics catalogue, PromQL scoping,
Prometheus and Alertmanager clients; log query translation, store and shipping."""
