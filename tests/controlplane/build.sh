#!/usr/bin/env bash
# Builds the control-plane binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok, helm) from the pinned Go modules beside this script into a cache directory outside
# the work tree, keyed by the hash of every go.mod/go.sum here and of this script. A second run with
# the same pins finds the binaries and builds nothing.
#
#   build.sh             build if needed, print the bin directory
#   build.sh --print-dir print the bin directory without building
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${HYBRIDCLOUD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridcloud}/controlplane"
key="$(cd "$here" && cat build.sh */go.mod */go.sum | sha256sum | cut -c1-16)"
bin="$cache_root/$key/bin"
if [[ "${1:-}" == "--print-dir" ]]; then echo "$bin"; exit 0; fi

tools=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)
missing=()
for t in "${tools[@]}"; do [[ -x "$bin/$t" ]] || missing+=("$t"); done
if [[ ${#missing[@]} -eq 0 ]]; then echo "$bin"; exit 0; fi

mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
mod_version() { # module path, module dir -> version selected in that module
  (cd "$here/$2" && go list -m -f '{{.Version}}' "$1")
}
start=$(date +%s)
build() { # module dir, package, output name, extra ldflags
  local dir=$1 pkg=$2 out=$3 ldflags=${4:-}
  [[ -x "$bin/$out" ]] && return 0
  echo ">> building $out" >&2
  (cd "$here/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
}

kube=$(mod_version k8s.io/kubernetes kubernetes)
minor=$(echo "$kube" | cut -d. -f2)
kube_ld="-X k8s.io/component-base/version.gitVersion=$kube -X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=$kube -X k8s.io/client-go/pkg/version.gitMajor=1 \
-X k8s.io/client-go/pkg/version.gitMinor=$minor"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build kubernetes "k8s.io/kubernetes/cmd/$c" "$c" "$kube_ld"
done
build etcd go.etcd.io/etcd/server/v3 etcd
helm_v=$(mod_version helm.sh/helm/v3 helm)
build helm helm.sh/helm/v3/cmd/helm helm "-X helm.sh/helm/v3/internal/version.version=$helm_v \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
kwok_v=$(mod_version sigs.k8s.io/kwok kwok)
build kwok sigs.k8s.io/kwok/cmd/kwok kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=$kwok_v"
echo "$kube" > "$bin/../kubernetes-version"
echo ">> control-plane binaries ready in $(( $(date +%s) - start ))s: $bin" >&2
echo "$bin"
