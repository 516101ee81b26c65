"""Domain events leaving the platform: webhooks (signed, at least once) and the SSE stream.

Both are derived from the transitions the operator records in each object's status (see
``transitions.py``): the Kubernetes API is the only store, and every consumer computes the same
event ids. Design and receiver guide: ``docs/webhooks.md``.
"""
