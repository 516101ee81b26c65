#!/usr/bin/env bash
# `make test`: lint and the unit tests run while the add-on components (tests/tools) build in the
# background; the integration phase waits for that build. Each pytest run treats exit code 5 (no
# tests collected) as a failure. Extra pytest arguments come from $PYTEST_ARGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py=${PY:-.venv/bin/python}
log=$(mktemp -t hybridcloud-tools-build.XXXXXX)
start=$(date +%s)
tests/tools/build.sh --all >"$log" 2>&1 &
tools_pid=$!
trap 'kill "$tools_pid" 2>/dev/null || true' EXIT

run_pytest() {
  local rc=0
  # shellcheck disable=SC2086  # PYTEST_ARGS is a list of words by design
  "$py" -m pytest "$@" ${PYTEST_ARGS:-} || rc=$?
  if [[ $rc -eq 5 ]]; then echo "pytest ran no tests: failing" >&2; return 1; fi
  return "$rc"
}

make --no-print-directory lint
run_pytest tests/unit tests/providers -q -n 2
if ! wait "$tools_pid"; then
  cat "$log" >&2; echo "== building the add-on components failed" >&2; exit 1
fi
trap - EXIT
echo "== add-on components ready ($(( $(date +%s) - start ))s after the test phase began):" >&2
grep '^>> .* ready in' "$log" >&2 || true
run_pytest tests -q -n 2 --dist loadfile --ignore=tests/unit --ignore=tests/providers
