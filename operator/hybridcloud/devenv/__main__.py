"""``python -m hybridcloud.devenv up|down|run|supervise --dir DIR``."""

import sys

from .commands import main

sys.exit(main())
