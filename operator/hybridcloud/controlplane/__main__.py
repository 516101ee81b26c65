"""Entry point for ``python -m hybridcloud.controlplane``."""

from ._cli import main

raise SystemExit(main())
