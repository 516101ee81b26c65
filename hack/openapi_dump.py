"""Write the REST API's OpenAPI document, as served at ``/openapi.json``, to a file.

The SDKs under ``sdk/`` are generated from this file (``make sdk``) and their drift tests compare
it with what the application serves, so the output is deterministic (sorted keys, fixed indent).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hybridcloud.api.app import create_app
from hybridcloud.api.settings import Settings


def openapi_document() -> str:
    """The document the API serves, rendered deterministically (no cluster connection needed)."""
    app = create_app(Settings())
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("sdk/openapi.json"))
    parser.add_argument("--check", action="store_true",
                        help="fail when the file differs from what the API serves")
    args = parser.parse_args(argv)
    document = openapi_document()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != document:
            print(f"{args.out} is out of date: run `make sdk`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(document)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
