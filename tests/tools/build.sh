#!/usr/bin/env bash
# Builds one add-on component (Prometheus, Alertmanager, VictoriaLogs, Trivy, a registry …) from
# its pinned Go module into a cache outside the work tree. Each component is a folder beside this
# script holding a go.mod/go.sum that pins it and a `packages` file with one line per command:
#
#   <output-name> <go package> [-tags=a,b] [-replace-file=MODULE@VERSION/PATH=FILE] [-X …]
#
# -replace-file builds against a writable copy of MODULE@VERSION (in the cache) whose PATH is
# FILE from the component folder, through a generated -modfile with a replace line: for a
# module that cannot drop a part by build tag (Alertmanager embeds UI assets its module zip does
# not carry). Go refuses -overlay for files in the module cache, hence the copy.
#
# The cache key hashes only that folder and this script, so bumping one component rebuilds only
# that component, and components build independently (in parallel with anything else).
#
#   build.sh COMPONENT              build if needed, print the bin directory
#   build.sh --print-dir COMPONENT  print the bin directory without building
#   build.sh --all                  build every component, in parallel, fail if any fails
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${HYBRIDCLOUD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridcloud}/tools"

components() { for d in "$here"/*/; do [[ -f "$d/packages" ]] && basename "$d"; done; }

bin_dir() { # component -> its cache bin directory
  local key
  key="$(cd "$here" && cat build.sh "$1/go.mod" "$1/go.sum" "$1/packages" | sha256sum | cut -c1-16)"
  echo "$cache_root/$1/$key/bin"
}

patched_modfile() { # component bin MODULE@VERSION/PATH=FILE -> a go.mod replacing MODULE
  local comp=$1 bin=$2 target=${3%%=*} file=${3#*=} mod ver rel src
  mod=${target%%@*}; ver=${target#*@}; rel=${ver#*/}; ver=${ver%%/*}
  src="$bin/../src/$(basename "$mod")@$ver"
  if [[ ! -d "$src" ]]; then
    (cd "$here/$comp" && go mod download "$mod@$ver")
    mkdir -p "$(dirname "$src")" && rm -rf "$src.tmp" && cp -r "$(go env GOMODCACHE)/$mod@$ver" "$src.tmp" && chmod -R u+w "$src.tmp"
    cp "$here/$comp/$file" "$src.tmp/$rel" && mv "$src.tmp" "$src"
  fi
  cp "$here/$comp/go.mod" "$bin/build.mod" && cp "$here/$comp/go.sum" "$bin/build.sum"
  (cd "$here/$comp" && go mod edit -modfile="$bin/build.mod" -replace="$mod=$src")
  echo "$bin/build.mod"
}

build_component() {
  local comp=$1 bin out pkg tags ldflags modfile start
  [[ -f "$here/$comp/packages" ]] || { echo "unknown component: $comp" >&2; return 2; }
  bin="$(bin_dir "$comp")"
  mkdir -p "$bin"
  start=$(date +%s)
  while read -r out pkg rest; do
    [[ -z "$out" || "$out" == \#* ]] && continue
    [[ -x "$bin/$out" ]] && continue
    tags=""; ldflags=""; modfile=""
    for word in $rest; do
      case "$word" in
        -tags=*) tags="${word#-tags=}" ;;
        -replace-file=*)
          modfile="$(patched_modfile "$comp" "$bin" "${word#-replace-file=}")" || return 1 ;;
        *) ldflags="$ldflags $word" ;;
      esac
    done
    echo ">> building $comp/$out" >&2
    (cd "$here/$comp" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" \
      GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
      go build -trimpath ${modfile:+-modfile "$modfile"} -tags "$tags" -ldflags "-s -w $ldflags" -o "$bin/$out.tmp" "$pkg")
    mv "$bin/$out.tmp" "$bin/$out"
  done < "$here/$comp/packages"
  echo ">> $comp ready in $(( $(date +%s) - start ))s: $bin" >&2
  echo "$bin"
}

case "${1:-}" in
  --print-dir) bin_dir "${2:?component}" ;;
  --all)
    pids=()
    for c in $(components); do build_component "$c" >/dev/null & pids+=($!); done
    rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done; exit $rc ;;
  "") echo "usage: build.sh [--print-dir] COMPONENT | --all" >&2; exit 2 ;;
  *) build_component "$1" ;;
esac
