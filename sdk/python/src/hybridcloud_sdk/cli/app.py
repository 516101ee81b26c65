"""Commands of ``hybridcloud``. Every failure prints one line on stderr and exits with a code from
``exits.Exit`` (listed by ``hybridcloud --help`` and the README)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
import yaml

from .._core import RetryPolicy
from ..client import HybridCloudClient
from .config import Config, Context, config_path
from .exits import Exit, exit_code
from .output import Output, errors, show

P = ParamSpec("P")
R = TypeVar("R")

EXIT_HELP = "Exit codes: " + ", ".join(f"{code.value} {code.name}" for code in Exit) + "."
app = typer.Typer(help=f"hybridcloud: manage clusters and applications. {EXIT_HELP}",
                  no_args_is_help=True)
clusters = typer.Typer(help="Clusters: list, get, create, scale, upgrade, delete.",
                       no_args_is_help=True)
apps = typer.Typer(help="Applications on a cluster: deploy, list, status.", no_args_is_help=True)
workloads = typer.Typer(help="Workloads on a member cluster: list, scale.", no_args_is_help=True)
config = typer.Typer(help="Contexts of the config file.", no_args_is_help=True)
app.add_typer(clusters, name="clusters")
app.add_typer(apps, name="apps")
app.add_typer(workloads, name="workloads")
app.add_typer(config, name="config")


@dataclass
class State:
    context: str | None = None
    output: Output = Output.table


state = State()
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table, json or yaml")]
# Per command: unset means the global --output.
OutputOverride = Annotated[Output | None, typer.Option("--output", "-o",
                                                       help="table, json or yaml")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="wait for the operation to finish")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="seconds to wait at most")]


@app.callback()
def _global(context: Annotated[str | None, typer.Option(
        "--context", envvar="HYBRIDCLOUD_CONTEXT", help="context of the config file")] = None,
            output: OutputOpt = Output.table) -> None:
    state.context, state.output = context, output


def handled(command: Callable[P, R]) -> Callable[P, R]:
    """SDK errors become one stderr line and a documented exit code, never a traceback."""
    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as error:  # mapped to an exit code, or re-raised by exit_code
            code = exit_code(error)
            errors.print(f"error: {error}", markup=False, highlight=False)
            raise typer.Exit(int(code)) from None
    return run


def connect() -> HybridCloudClient:
    _, ctx = Config.load().context(state.context)
    retry = retry_policy()
    if ctx.client_id and ctx.client_secret:
        return HybridCloudClient(ctx.server, client_id=ctx.client_id,
                                 client_secret=ctx.client_secret, namespace=ctx.namespace,
                                 retry=retry)
    return HybridCloudClient(ctx.server, api_key=ctx.token, namespace=ctx.namespace, retry=retry)


def retry_policy() -> RetryPolicy:
    """``HYBRIDCLOUD_MAX_RETRIES`` (default 5): how often a 429/503 read is retried before the
    command gives up with exit 7; 0 for scripts that prefer to fail at once."""
    text = os.environ.get("HYBRIDCLOUD_MAX_RETRIES", "")
    if not text:
        return RetryPolicy()
    if not text.isdigit():
        raise ValueError(f"HYBRIDCLOUD_MAX_RETRIES: expected a whole number, not {text!r}")
    return RetryPolicy(max_retries=int(text))


def fmt(output: Output | None) -> Output:
    return output or state.output


def read_document(path: Path) -> dict[str, Any]:
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a YAML or JSON object")
    return document


def follow(client: HybridCloudClient, operation_id: str, timeout: float, what: str) -> None:
    """Wait for the operation with a live status line; a failed operation exits WAIT_FAILED."""
    from rich.status import Status

    with Status(f"{what}: waiting", console=errors) as status:
        operation = client.operations.wait(
            operation_id, timeout=timeout, interval=1.0,
            on_progress=lambda op: status.update(
                f"{what}: {op.status} (phase {op.phase or '-'}) {op.message or ''}"))
    if operation.status != "succeeded":
        errors.print(f"error: {what} {operation.status}: {operation.message or ''}",
                     markup=False)
        raise typer.Exit(int(Exit.WAIT_FAILED))
    errors.print(f"{what}: succeeded", markup=False)


# --- login and contexts ----------------------------------------------------------------------

@app.command()
@handled
def login(server: Annotated[str, typer.Option(help="API base URL")],
          client_id: Annotated[str | None, typer.Option(help="OAuth client ID")] = None,
          client_secret: Annotated[str | None, typer.Option(
              envvar="HYBRIDCLOUD_CLIENT_SECRET", help="OAuth client secret (prompted when "
              "neither this nor $HYBRIDCLOUD_CLIENT_SECRET is given)")] = None,
          token: Annotated[str | None, typer.Option(
              envvar="HYBRIDCLOUD_TOKEN", help="a bearer token instead of client credentials")
          ] = None,
          namespace: Annotated[str | None, typer.Option(help="tenant namespace")] = None,
          name: Annotated[str, typer.Option("--name", help="context name")] = "default") -> None:
    """Check the credentials against the API and store them as the current context (0600)."""
    if client_id and not client_secret:
        client_secret = typer.prompt("client secret", hide_input=True)
    if not (client_id or token):
        raise ValueError("give --client-id (client credentials) or --token")
    context = Context(server=server.rstrip("/"), client_id=client_id,
                      client_secret=client_secret if client_id else None,
                      token=None if client_id else token, namespace=namespace)
    with HybridCloudClient(context.server, api_key=context.token, client_id=context.client_id,
                           client_secret=context.client_secret, namespace=namespace) as client:
        client.clusters.list(per_page=1)  # a token is issued and the identity may read
    stored = Config.load()
    stored.contexts[name] = context
    stored.current_context = name
    path = stored.save()
    errors.print(f"logged in to {context.server} as context {name!r} ({path})", markup=False)


@config.command("get-contexts")
def get_contexts(output: OutputOpt = Output.table) -> None:
    """List contexts (secrets are never shown)."""
    stored = Config.load()
    rows = [{"current": "*" if name == stored.current_context else "", "name": name,
             "server": c.server, "namespace": c.namespace,
             "auth": "client-credentials" if c.client_id else "token"}
            for name, c in sorted(stored.contexts.items())]
    show(rows, output, ["current", "name", "server", "namespace", "auth"])


@config.command("use-context")
@handled
def use_context(name: str) -> None:
    """Make NAME the current context."""
    stored = Config.load()
    stored.context(name)
    stored.current_context = name
    stored.save()


@config.command("path")
def show_path() -> None:
    """Print the config file's path."""
    print(config_path())


# Registers the resource, security-scan and apps-metrics commands on the groups above.
from . import commands, security  # noqa: E402,F401


def main() -> None:
    app()
