#!/usr/bin/env bash
# Regenerates src/schema.gen.ts (types only) from ../openapi.json with openapi-typescript, pinned
# in package-lock.json (installs it with `npm ci` when node_modules is missing).
#   generate.sh            write src/schema.gen.ts
#   generate.sh --stdout   print the generated source instead (the drift test compares it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[[ -x node_modules/.bin/openapi-typescript ]] || npm ci --no-audit --no-fund --silent >&2
if [[ "${1:-}" == "--stdout" ]]; then
  node_modules/.bin/openapi-typescript ../openapi.json --alphabetize --default-non-nullable false 2>/dev/null
else
  node_modules/.bin/openapi-typescript ../openapi.json --alphabetize --default-non-nullable false -o src/schema.gen.ts
fi
