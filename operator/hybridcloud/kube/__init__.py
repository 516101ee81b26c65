"""Kubernetes access shared by the operator and the API (lightkube)."""
