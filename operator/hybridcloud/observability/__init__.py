"""The platform's observability: its own metrics, and (in other modules) the metrics catalogue,
Prometheus/Alertmanager clients and log query translation."""
