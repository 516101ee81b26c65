"""Entry points: ``python -m hybridcloud operator|api|crds``.

One image, two processes: the operator (kopf) and the REST API (uvicorn); both read their
Kubernetes credentials from KUBECONFIG or the in-cluster ServiceAccount.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _operator(args: argparse.Namespace) -> int:
    import kopf

    from . import controllers  # noqa: F401  (registers the handlers)
    from .controllers.settings import EventHandlersOnlyMemories

    kopf.configure(verbose=args.verbose)
    namespaces: list[str] = [ns for ns in (args.namespace or []) if ns]
    # Components that watch on their own (webhooks) follow kopf's namespaces.
    os.environ["HYBRIDCLOUD_OPERATOR_WATCHED_NAMESPACES"] = json.dumps(namespaces)
    kopf.run(
        standalone=True,  # one replica with a Recreate strategy; no peering objects needed
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port
        else None,
        memories=EventHandlersOnlyMemories(),  # nothing kept per object (issue 19)
    )
    return 0


def _api(args: argparse.Namespace) -> int:
    import threading

    import uvicorn

    from .api import create_app
    from .api.app import metrics_app, server_config
    from .api.settings import Settings

    settings = Settings()
    app = create_app(settings)
    metrics = None
    if settings.metrics_port:
        # A second server in a thread: the main one keeps the signal handling, and /metrics
        # needs no route, authentication or middleware of the API's.
        metrics = uvicorn.Server(server_config(metrics_app(app), args.host,
                                               settings.metrics_port, log_level=args.log_level,
                                               lifespan="off"))
        threading.Thread(target=metrics.run, name="metrics", daemon=True).start()
    uvicorn.Server(server_config(app, args.host, args.port, log_level=args.log_level)).run()
    if metrics is not None:
        metrics.should_exit = True
    return 0


def _crds(args: argparse.Namespace) -> int:
    from . import crdgen

    return crdgen.main(args.rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hybridcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    operator = commands.add_parser("operator", help="run the operator (kopf)")
    operator.add_argument("--namespace", action="append",
                          help="watch only this namespace (repeatable); all when omitted")
    operator.add_argument("--health-port", type=int, default=8080,
                          help="liveness endpoint port (0 disables)")
    operator.add_argument("--verbose", action="store_true", help="debug logging")
    operator.set_defaults(run=_operator)
    api = commands.add_parser("api", help="run the REST API (uvicorn)")
    api.add_argument("--host", default="0.0.0.0")  # noqa: S104  (a server binds all interfaces)
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--log-level", default="info")
    api.set_defaults(run=_api)
    crds = commands.add_parser("crds", help="generate CRDs (see hybridcloud.crdgen)")
    crds.add_argument("rest", nargs=argparse.REMAINDER)
    crds.set_defaults(run=_crds)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
