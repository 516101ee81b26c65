"""``python -m hybridcloud.controlplane up|down --dir DIR`` -- a control plane for `make run`.

``up`` stays in the foreground supervising the components and records them in
``DIR/state.json``; ``down`` uses that record to stop them, even when the supervisor was killed
and could not clean up itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ._cluster import ControlPlane, Profile
from ._errors import ControlPlaneError
from ._process import kill_pid, pid_alive, pid_runs

_STATE_FILE = "state.json"
_SUPERVISE_INTERVAL = 0.5
_MODULE = "hybridcloud.controlplane"


class _ShutdownRequestedError(BaseException):
    """Raised from the signal handler so start() and the supervise loop unwind cleanly.

    A BaseException, like KeyboardInterrupt, so no `except Exception` on the way swallows it.
    """


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise _ShutdownRequestedError(signal.Signals(signum).name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {_MODULE}", description="Run a local Kubernetes control plane."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start and supervise until SIGTERM/SIGINT")
    up.add_argument("--dir", type=Path, required=True, help="work directory (state, logs)")
    up.add_argument("--profile", choices=[p.value for p in Profile], default=Profile.MANAGEMENT)
    up.add_argument("--nodes", type=int, default=0, help="fake kwok nodes (member profile)")
    up.add_argument("--name", default="hybridcloud", help="cluster name, prefixes node names")
    up.add_argument("--bin-dir", type=Path, help="binaries (default: $HYBRIDCLOUD_BIN_DIR, PATH)")
    up.add_argument("--timeout", type=float, default=90.0, help="start-up timeout in seconds")
    down = commands.add_parser("down", help="stop the control plane recorded in DIR")
    down.add_argument("--dir", type=Path, required=True)
    down.add_argument("--grace", type=float, default=10.0, help="seconds before SIGKILL")
    return parser


def _write_json(path: Path, data: dict[str, Any]) -> None:
    # Atomic replace: `down` must never read a half-written file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _is_supervisor(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return pid_alive(pid) and _MODULE.encode() in cmdline and b"up" in cmdline


def _up(args: argparse.Namespace) -> int:
    workdir: Path = args.dir.absolute()
    state_path = workdir / _STATE_FILE
    if state_path.exists():
        previous = json.loads(state_path.read_text())
        if _is_supervisor(int(previous.get("supervisor_pid", 0))):
            print(
                f"already running (pid {previous['supervisor_pid']}); run down first",
                file=sys.stderr,
            )
            return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    plane = ControlPlane(
        workdir, Profile(args.profile), name=args.name, nodes=args.nodes, bin_dir=args.bin_dir
    )
    try:
        plane.start(timeout=args.timeout)
        _write_json(state_path, {**plane._state(), "supervisor_pid": os.getpid()})
        # The printed path doubles as the "ready" signal for scripts reading our stdout.
        print(plane.kubeconfig, flush=True)
        while (dead := plane._failed_child()) is None:
            time.sleep(_SUPERVISE_INTERVAL)
        print(f"{dead.describe_exit()}; stopping\n{dead.tail()}", file=sys.stderr)
        return 1
    except _ShutdownRequestedError:
        return 0
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not abort the orderly shutdown half-way; `down` can still kill.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        plane.stop()
        state_path.unlink(missing_ok=True)


def _down(args: argparse.Namespace) -> int:
    state_path: Path = args.dir.absolute() / _STATE_FILE
    try:
        state = json.loads(state_path.read_text())
    except FileNotFoundError:
        print(f"nothing to stop: no {state_path}")
        return 0
    components = state.get("components", [])
    supervisor = int(state.get("supervisor_pid", 0))
    if supervisor and _is_supervisor(supervisor):
        # Let the supervisor do the ordered shutdown; it knows best.
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + args.grace * (len(components) + 1)
        while pid_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.1)
    # Whatever is left (supervisor killed or stuck): newest component first, like stop().
    for component in reversed(components):
        kill_pid(int(component["pid"]), Path(component["binary"]), args.grace)
    survivors = [
        f"{c['name']} (pid {c['pid']})"
        for c in components
        if pid_runs(int(c["pid"]), Path(c["binary"]))
    ]
    if survivors:
        print(f"could not stop: {', '.join(survivors)}", file=sys.stderr)
        return 1
    state_path.unlink(missing_ok=True)
    print(f"stopped control plane {state.get('name', '?')} in {args.dir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _up(args) if args.command == "up" else _down(args)
