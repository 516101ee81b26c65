"""Pure reconcile logic: desired + observed state in, actions and status out. No I/O here."""
