"""Observability: metrics, alerts and logs of the platform and its fleet."""
