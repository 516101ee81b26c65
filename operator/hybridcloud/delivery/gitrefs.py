"""What Git servers advertised (``git ls-remote``), shared by every application of a repository.

Kept per (repository, credentials identity): a caller is only answered from a snapshot its own
credentials produced, so the server has told *this* caller it may read the repository. Kept per
repository: the refs the mirror was last filled from, so a fetch runs only when they moved.
Pure bookkeeping, no I/O: :class:`~hybridcloud.delivery.git.GitCache` runs the commands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

Refs = dict[str, str]  # ref name ("HEAD", "refs/heads/main", "refs/tags/v1^{}") -> object id


@dataclass(frozen=True)
class Advertised:
    started: float  # time.monotonic() when the ls-remote was sent
    answered: float  # … and when its answer arrived
    refs: Refs


@dataclass
class RefSnapshots:
    _advertised: dict[tuple[str, str], Advertised] = field(default_factory=dict)
    _mirrored: dict[str, Refs] = field(default_factory=dict)

    def fresh(self, repository: str, identity: str, *, max_age: float,
              not_before: float | None) -> bool:
        """Whether this caller's last answer is younger than ``max_age`` and (for a forced
        refresh) came from a request sent at or after ``not_before``. Age counts from the
        answer, so callers that queued behind a request share it."""
        seen = self._advertised.get((repository, identity))
        if seen is None:
            return False
        return time.monotonic() - seen.answered < max_age and \
            (not_before is None or seen.started >= not_before)

    def needs_fetch(self, repository: str, refs: Refs) -> bool:
        return self._mirrored.get(repository) != refs

    def fetched(self, repository: str, refs: Refs) -> None:
        """The mirror was filled after ``refs`` were advertised. If they moved meanwhile, the
        next answer differs and fetches again (never the other way round)."""
        self._mirrored[repository] = refs

    def answered(self, repository: str, identity: str, started: float, refs: Refs) -> None:
        self._advertised[(repository, identity)] = Advertised(started, time.monotonic(), refs)

    def forget(self, repository: str) -> None:
        """The mirror is gone (e.g. over a limit): every snapshot of it is void."""
        self._mirrored.pop(repository, None)
        self._advertised = {k: v for k, v in self._advertised.items() if k[0] != repository}

    def commit(self, repository: str, identity: str, revision: str) -> str | None:
        """``revision`` as ``git rev-parse`` would resolve it in the mirror (branch, then tag,
        annotated tags peeled, HEAD), from this caller's snapshot — only when the mirror was
        filled from those very refs; None otherwise and for anything else (SHAs)."""
        seen = self._advertised.get((repository, identity))
        if seen is None or self._mirrored.get(repository) != seen.refs:
            return None
        if revision == "HEAD":
            return seen.refs.get("HEAD")
        for ref in (f"refs/heads/{revision}", f"refs/tags/{revision}", revision):
            if ref.startswith(("refs/heads/", "refs/tags/")) and ref in seen.refs:
                return seen.refs.get(f"{ref}^{{}}") or seen.refs[ref]
        return None


def parse_ls_remote(output: bytes) -> Refs:
    """Branches, tags (with their peeled ``^{}`` entries) and HEAD of ``git ls-remote``."""
    refs: Refs = {}
    for line in output.decode(errors="replace").splitlines():
        sha, _, ref = line.partition("\t")
        if ref == "HEAD" or ref.startswith(("refs/heads/", "refs/tags/")):
            refs[ref] = sha
    return refs
