"""Observability: the platform's own metrics, the fleet's metrics and alerts (Prometheus,
Alertmanager) and its logs (VictoriaLogs)."""
