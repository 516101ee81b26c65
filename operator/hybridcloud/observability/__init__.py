"""Observability: the metrics catalogue, PromQL scoping, Prometheus and Alertmanager clients."""
