"""Where the seconds of a commit-to-fleet push go (issue 19): a timeline per application.

Watches (started once, kept for the whole case) stamp every event as it reaches the bench:
the management cluster's MultiClusterApplications (the refresh annotation the Git hook sets,
then the ``sourceRevision`` the operator reports) and the ConfigMaps on each member (the new
marker arriving). For one push, :meth:`Timeline.summary` gives, relative to the start of the
``git push``, the median and last moment of each step over the applications:

hook answered → annotation seen (the hook's patch, through a watch) → status names the new
revision (the pass concluded) → object carries the marker on each member.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.resources.core_v1 import ConfigMap

from hybridcloud.delivery.githooks import REFRESH_ANNOTATION
from hybridcloud.kube.resources import MultiClusterApplicationResource

Stamp = tuple[float, str, dict[str, str]]  # when, object name, what it carried


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timeline:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[Stamp]] = {}
        self.processes: dict[str, int] = {}  # name → pid whose CPU per push is reported

    def cpu(self) -> dict[str, float | None]:
        return {name: cpu_seconds(pid) for name, pid in self.processes.items()}

    def watch(self, stream: str, events: Callable[[], Iterator[Any]],
              carried: Callable[[Any], dict[str, str]]) -> None:
        """Record ``stream``'s events in a daemon thread (it ends with the process)."""
        def loop() -> None:
            while True:
                try:
                    for _, obj in events():
                        stamp = (time.monotonic(), obj.metadata.name or "", carried(obj))
                        with self._lock:
                            self._events.setdefault(stream, []).append(stamp)
                except Exception:  # a broken watch is re-opened
                    time.sleep(0.2)
        threading.Thread(target=loop, name=f"timeline-{stream}", daemon=True).start()

    def watch_applications(self, kube: Client, namespace: str) -> None:
        def carried(obj: Any) -> dict[str, str]:
            status = obj.status if isinstance(obj.status, dict) else {}
            return {"token": (obj.metadata.annotations or {}).get(REFRESH_ANNOTATION, ""),
                    "revision": str(status.get("sourceRevision") or "")}
        self.watch("applications", lambda: kube.watch(MultiClusterApplicationResource,
                                                      namespace=namespace), carried)

    def watch_member(self, name: str, member: Client, namespace: str) -> None:
        self.watch(f"member:{name}", lambda: member.watch(ConfigMap, namespace=namespace),
                   lambda obj: {"marker": (obj.data or {}).get("marker", "")})

    def _first(self, stream: str, since: float,
               matches: Callable[[dict[str, str]], bool]) -> dict[str, float]:
        """Per object: seconds after ``since`` of its first event that ``matches``."""
        with self._lock:
            events = list(self._events.get(stream, []))
        first: dict[str, float] = {}
        for when, name, carried in events:
            if when >= since and name not in first and matches(carried):
                first[name] = when - since
        return first

    def summary(self, since: float, hook_answered: float | None, marker: str,
                tokens_before: set[str], cpu_before: dict[str, float | None]) -> dict[str, Any]:
        """Each step's median and last moment (seconds after ``since``) for one push, and the
        CPU seconds each watched process spent meanwhile."""
        steps: dict[str, dict[str, float]] = {
            "annotation_seen": self._first(
                "applications", since,
                lambda c: bool(c["token"]) and c["token"] not in tokens_before)}
        revision = self._revision_after(since, tokens_before)
        if revision:
            steps["status_revision"] = self._first(
                "applications", since, lambda c: c["revision"] == revision)
        with self._lock:
            streams = [s for s in self._events if s.startswith("member:")]
        for stream in sorted(streams):
            steps[f"on_{stream.removeprefix('member:')}"] = self._first(
                stream, since, lambda c: c["marker"] == marker)
        out: dict[str, Any] = {}
        for name, after in self.cpu().items():
            before = cpu_before.get(name)
            if after is not None and before is not None:
                out[f"cpu_s_{name}"] = round(after - before, 2)
        if hook_answered is not None:
            out["hook_answered"] = round(hook_answered - since, 3)
        for step, firsts in steps.items():
            if firsts:
                values = sorted(firsts.values())
                out[step] = {"p50": round(statistics.median(values), 3),
                             "first": round(values[0], 3), "last": round(values[-1], 3),
                             "count": len(values)}
        return out

    def arrivals(self, since: float, marker: str, prefix: str = "cm-") -> tuple[int, float]:
        """How many objects named ``prefix…`` carry ``marker`` on the members (counted per
        member), and the seconds after ``since`` when the last of them arrived."""
        with self._lock:
            streams = [s for s in self._events if s.startswith("member:")]
        seen = [when for stream in streams
                for name, when in self._first(stream, since,
                                              lambda c: c["marker"] == marker).items()
                if name.startswith(prefix)]
        return len(seen), max(seen, default=0.0)

    def tokens(self) -> set[str]:
        """Every refresh token seen so far (so a push's new one can be told apart)."""
        with self._lock:
            return {c["token"] for _, _, c in self._events.get("applications", [])}

    def _revision_after(self, since: float, tokens_before: set[str]) -> str | None:
        """The revision most applications reported after ``since`` (the pushed commit)."""
        with self._lock:
            events = list(self._events.get("applications", []))
        revisions = [c["revision"] for when, _, c in events if when >= since and c["revision"]]
        before = {c["revision"] for when, _, c in events if when < since}
        fresh = [r for r in revisions if r not in before]
        return statistics.mode(fresh) if fresh else None
