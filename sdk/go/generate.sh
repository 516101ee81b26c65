#!/usr/bin/env bash
# Regenerates client/types.gen.go from ../openapi.json with oapi-codegen, pinned as a `tool` in
# tools/go.mod (its own module, so the SDK's go.mod stays free of generator dependencies). `go
# tool` keeps the built generator in Go's build cache, which is safe for concurrent runs.
# Types only: the client itself is hand-written.
#   generate.sh            write client/types.gen.go
#   generate.sh --stdout   print the generated source instead (the drift test compares it)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/client/types.gen.go"
[[ "${1:-}" == "--stdout" ]] && out=/dev/stdout
cd "$here/tools"
GOFLAGS=-mod=readonly GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
  go tool oapi-codegen -config "$here/oapi-codegen.yaml" -o "$out" "$here/../openapi.json"
