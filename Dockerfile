# syntax=docker/dockerfile:1
# One image, two entry points (both `python -m hybridcloud ...`):
#   operator:  args ["operator", "--health-port=8080"]           liveness  :8080/healthz
#   REST API:  args ["api", "--host=0.0.0.0", "--port=8000"]       probes :8000/healthz, /readyz
# Build:  docker build -t hybridcloud/hybridcloud:0.1.0 .
# The base is pinned by tag; pin it by digest too (FROM name:tag@sha256:...) in your own CI.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG GO_IMAGE=golang:1.26.8-bookworm

# -- tools: helm (Helm-chart sources), kubectl (kustomize sources) and trivy (security scans),
#    from the same pinned modules the tests build them from ---------------------------------------
FROM ${GO_IMAGE} AS tools
ENV CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod"
COPY tests/controlplane/helm/go.mod tests/controlplane/helm/go.sum /tools/helm/
COPY tests/controlplane/kubernetes/go.mod tests/controlplane/kubernetes/go.sum /tools/kubernetes/
RUN cd /tools/helm \
 && version=$(go list -m -f '{{.Version}}' helm.sh/helm/v3) \
 && go build -trimpath -o /out/helm \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${version}" \
      helm.sh/helm/v3/cmd/helm \
 && cd /tools/kubernetes \
 && go build -trimpath -ldflags "-s -w" -o /out/kubectl k8s.io/kubernetes/cmd/kubectl
COPY tests/tools/trivy/go.mod tests/tools/trivy/go.sum /tools/trivy/
# Trivy's own release build sets GOEXPERIMENT=jsonv2; the build tag does the same.
RUN cd /tools/trivy \
 && go build -trimpath -tags=goexperiment.jsonv2 -o /out/trivy \
      -ldflags "-s -w -X=github.com/aquasecurity/trivy/pkg/version/app.ver=v0.74.0" \
      github.com/aquasecurity/trivy/cmd/trivy

# -- build: resolve and install the package and its provider SDKs into a virtualenv --------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/hybridcloud
WORKDIR /src
# Dependencies change less often than the code: this layer is cached across code changes.
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
RUN /opt/hybridcloud/bin/pip install ".[providers]" \
 && /opt/hybridcloud/bin/python -m compileall -q /opt/hybridcloud

# -- runtime: the virtualenv only, as an unprivileged user ---------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="hybridcloud" \
      org.opencontainers.image.description="hybridcloud operator and REST API" \
      org.opencontainers.image.licenses="Apache-2.0"
# git: the MultiClusterApplication delivery engine fetches sources with real git.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 hybridcloud \
 && useradd --system --uid 65532 --gid 65532 --home-dir /home/hybridcloud --create-home \
      --shell /usr/sbin/nologin hybridcloud \
 && install -d -o 65532 -g 65532 /var/lib/hybridcloud
COPY --from=build /opt/hybridcloud /opt/hybridcloud
COPY --from=tools /out/helm /out/kubectl /opt/hybridcloud/tools/
# Where HYBRIDCLOUD_OPERATOR_SCANNER_TRIVY_PATH looks by default; its database is supplied by
# the platform's operator (the chart's scanner.cacheVolume; docs/security-scans.md).
COPY --from=tools /out/trivy /usr/local/bin/trivy
# Read-only root filesystem at run time: no bytecode writes; state goes to /var/lib/hybridcloud
# and /tmp (volumes in the chart).
ENV PATH=/opt/hybridcloud/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/hybridcloud \
    HYBRIDCLOUD_BIN_DIR=/opt/hybridcloud/tools \
    HYBRIDCLOUD_OPERATOR_LOCAL_DIR=/var/lib/hybridcloud/local \
    HYBRIDCLOUD_OPERATOR_DELIVERY_DIR=/var/lib/hybridcloud/delivery
USER 65532:65532
WORKDIR /home/hybridcloud
EXPOSE 8000 8080
ENTRYPOINT ["python", "-m", "hybridcloud"]
CMD ["operator", "--health-port=8080"]
