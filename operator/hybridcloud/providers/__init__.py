"""Cloud access behind one interface (:mod:`.base`), one adapter module per cloud.

Adapters import their SDK lazily through :func:`build`, so an operator that only manages local
and AWS clusters never imports the Azure or Google libraries.
"""
