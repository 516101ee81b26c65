"""Delivery: Git fetch and cache, rendering (plain YAML, Helm charts), server-side apply to member
clusters with an inventory for prune, drift detection and health from live objects."""
