"""Git sources: one bare mirror per repository, revisions resolved to commit SHAs, trees exported.

Real ``git`` does the work, for the URLs :mod:`hybridcloud.delivery.urls` allows (https://,
ssh://, scp-like, http:// and git:// without credentials; local repositories only when the
operator allows them). ``GIT_ALLOW_PROTOCOL`` refuses everything else again inside git, so the
``ext::`` style remote helpers, which run commands, never run. SSH always checks host keys
against ``knownHosts`` from the Secret or the operator's known_hosts file; an unknown host is
refused, never trusted on first use.

Every fetch and export is bounded (:class:`GitLimits`): time (with a low-speed abort), bytes a
fetch may bring in, and the size and file count of an exported tree, checked before anything is
extracted. Exports stream to disk, and a failed one leaves no staging folder behind. A limit hit
is a ``LimitExceeded`` error naming the setting.

Credentials never appear on a command line or in a message: an HTTPS token is handed to git by
an askpass script reading it from the environment, an SSH key is written to a private temporary
file used through ``GIT_SSH_COMMAND`` and deleted afterwards, and every error text is scrubbed
of secrets and of user:password parts in URLs.

A mirror fetched with one set of credentials is never reused for a caller with other (or no)
credentials without a check of its own: that caller's ``git ls-remote`` must succeed with its own
credentials (the server says it may read the repository) before the mirror answers it, so an
application cannot read a private repository through a mirror another application's Secret
filled. Refused authentication is reported as ``AuthenticationFailed`` with a message saying
what to fix.

One network request per repository and interval, not per application: the refs a server
advertised (``git ls-remote``) are kept per (repository, credentials) with the times the request
started and was answered. Callers whose ``max_age`` that answer satisfies (and, for a forced
refresh, whose ``not_before`` the request started after) are answered from the mirror without any
request; otherwise
one ``ls-remote`` runs, and a ``fetch`` follows only when the advertised refs differ from those
the mirror was last filled from.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import re
import shlex
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from ..observability.operator_metrics import timed_git_fetch
from ..redaction import redact as redact  # re-exported for the delivery modules
from .git_errors import GitCredentials as GitCredentials
from .git_errors import InvalidSourceError as InvalidSourceError
from .git_errors import SourceError as SourceError
from .git_errors import SourceUnavailableError as SourceUnavailableError
from .git_errors import check_argument, explain_refusal
from .gitlimits import SETTING as _SETTING
from .gitlimits import GitLimits, discard, extract, folder_size, tree_over_limits
from .gitrefs import RefSnapshots, parse_ls_remote
from .urls import RepositoryRefusedError, Transport, check_repository

NETWORK_PROTOCOLS = "git:http:https:ssh"
_KEEP_TREES = 6  # exported commits kept per repository
_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${HYBRIDCLOUD_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$HYBRIDCLOUD_GIT_TOKEN" ;;
esac
"""
_TOO_SLOW = ("Operation too slow", "transfer rate", "Timeout, server")


class GitCache:
    """Bare mirrors under ``root/repos``, exported trees under ``root/trees``."""

    def __init__(self, root: Path, *, limits: GitLimits | None = None, allow_local: bool = False,
                 known_hosts: Path | None = None, ca_bundle: Path | None = None) -> None:
        self.root = Path(root)
        self.ca_bundle = ca_bundle
        self.limits = limits or GitLimits()
        self.allow_local = allow_local
        self.known_hosts = known_hosts
        self._locks: dict[str, asyncio.Lock] = {}
        self._targets: LRUCache[tuple[Path, str], Path] = LRUCache(4096)  # (tree, path) → dir
        self._refs = RefSnapshots()

    @staticmethod
    def _key(repository: str) -> str:
        return hashlib.sha256(repository.encode()).hexdigest()[:20]

    def _mirror(self, repository: str) -> Path:
        return self.root / "repos" / f"{self._key(repository)}.git"

    def _lock(self, repository: str) -> asyncio.Lock:
        return self._locks.setdefault(self._key(repository), asyncio.Lock())

    # -- public ------------------------------------------------------------------------------

    async def resolve(self, repository: str, revision: str,
                      credentials: GitCredentials | None = None, *, max_age: float = 0.0,
                      not_before: float | None = None) -> str:
        """``revision`` (a branch, tag, commit or HEAD) as a full commit SHA. The server is asked
        (``ls-remote``, then a fetch if its refs moved) unless this caller's credentials saw its
        refs less than ``max_age`` seconds ago in a request started at or after ``not_before``
        (a ``time.monotonic()`` value: a forced refresh passes when it was asked for)."""
        check_argument(repository, "source.repository")
        check_argument(revision, "source.revision")
        credentials = credentials or GitCredentials()
        self.check(repository, credentials)
        if self.answers(repository, credentials, max_age=max_age, not_before=not_before):
            # Answered from the advertised refs in memory: no process, so no reason to queue
            # behind the ls-remote rounds and exports holding the repository's lock (after a
            # push, 100 applications of one repository did, one after another; issue 19).
            sha = self._refs.commit(repository, credentials.identity(), revision)
            if sha is not None:
                return sha
        async with self._lock(repository):
            mirror = self._mirror(repository)
            if not self.answers(repository, credentials, max_age=max_age,
                                not_before=not_before):
                await self._refresh(repository, mirror, credentials)
            # Branches and tags straight from the advertised refs when the mirror was filled
            # from them (no git process per application: the resync profile's hot spot).
            sha = self._refs.commit(repository, credentials.identity(), revision) or \
                await self._rev_parse(mirror, revision)
            if sha is None and re.fullmatch(r"[0-9a-f]{7,64}", revision):
                # A commit no branch or tag points at: ask the server for it directly.
                with contextlib.suppress(SourceError):
                    await self._git(["fetch", "--quiet", repository, revision], mirror,
                                    credentials)
                sha = await self._rev_parse(mirror, revision)
            if sha is None:
                raise InvalidSourceError(f"revision {revision!r} not found in {redact(repository)}",
                                         reason="RevisionNotFound")
            return sha

    def answers(self, repository: str, credentials: GitCredentials | None = None, *,
                max_age: float, not_before: float | None = None) -> bool:
        """Whether :meth:`resolve` would answer from the mirror without asking the server."""
        identity = (credentials or GitCredentials()).identity()
        return (self._mirror(repository) / "HEAD").exists() and self._refs.fresh(
            repository, identity, max_age=max_age, not_before=not_before)

    @timed_git_fetch  # the request to the server is the ls-remote, so it is what is timed
    async def _refresh(self, repository: str, mirror: Path, credentials: GitCredentials) -> None:
        """One ``ls-remote`` with the caller's credentials; a fetch only when the refs moved."""
        started = time.monotonic()
        try:
            out = await self._git(["ls-remote", "--quiet", repository], _ensure(mirror.parent),
                                  credentials)
        except SourceError as exc:
            raise explain_refusal(exc, repository, credentials) from None
        refs = parse_ls_remote(out)
        if self._refs.needs_fetch(repository, refs) or not (mirror / "HEAD").exists():
            await self._fetch(repository, mirror, credentials)
            self._refs.fetched(repository, refs)
        self._refs.answered(repository, credentials.identity(), started, refs)

    def check_url(self, repository: str, *, with_credentials: bool) -> Transport:
        """Refuse a URL the platform does not fetch (see :mod:`urls`) and credentials that
        would travel in clear text; cheap, so callers check before reading any Secret."""
        try:
            return check_repository(repository, field="spec.source.repository",
                                    allow_local=self.allow_local,
                                    with_credentials=with_credentials)
        except RepositoryRefusedError as exc:
            raise InvalidSourceError(str(exc), reason="InvalidSource") from None

    def check(self, repository: str, credentials: GitCredentials) -> Transport:
        """:meth:`check_url`, and SSH only with known host keys."""
        transport = self.check_url(repository, with_credentials=bool(credentials.secrets()))
        if transport == Transport.SSH and not credentials.known_hosts and self.known_hosts is None:
            raise InvalidSourceError(
                "spec.source.secretRef: SSH repositories need the server's host keys: add key "
                "`knownHosts` (ssh-keyscan output you verified) to the Secret, or have the "
                f"platform set {_SETTING}SSH_KNOWN_HOSTS", reason="InvalidSource")
        return transport

    def tree(self, repository: str, sha: str) -> Path:
        """Where commit ``sha`` of ``repository`` is exported: the repository's root."""
        return self.root / "trees" / self._key(repository) / sha

    async def export(self, repository: str, sha: str, path: str) -> Path:
        """The directory ``path`` of commit ``sha``, exported once and then reused."""
        check_argument(sha, "source.revision")
        tree = self.tree(repository, sha)
        # Resolved once per tree and path: a commit's tree never changes, and resolving
        # (a stat per path component) was 2% of the operator's busy time with 500 applications
        # (issue 19's delivery-at-scale profile).
        target = self._targets.get((tree, path))
        if target is None:
            target = (tree / path).resolve()
            if not target.is_relative_to(tree.resolve()):
                raise InvalidSourceError(f"source.path {path!r} leaves the repository",
                                         "InvalidSource")
            self._targets[(tree, path)] = target
        if not _touched(tree):
            # Only an export takes the lock: a tree appears whole (renamed from its staging
            # folder), so reading one never waits behind the repository's git rounds.
            async with self._lock(repository):
                if not tree.exists():
                    await self._export(repository, sha, tree)
                    self._forget_old_trees(tree.parent)
                tree.touch()  # mtime = last use, for the cleanup of old trees
        if not target.is_dir():
            raise InvalidSourceError(f"source.path {path!r} does not exist at commit {sha[:12]}",
                                     reason="PathNotFound")
        return target

    async def _export(self, repository: str, sha: str, tree: Path) -> None:
        """``git archive`` of ``sha`` streamed to a file and extracted into a staging folder that
        becomes ``tree``; sizes are checked from the tree listing before anything is written."""
        mirror = self._mirror(repository)
        listing = await self._git(["ls-tree", "-r", "-l", "-z", sha], mirror, GitCredentials())
        too_large = tree_over_limits(listing, sha, self.limits)
        if too_large:
            raise InvalidSourceError(too_large, reason="LimitExceeded")
        staging = Path(tempfile.mkdtemp(prefix=f"{sha[:12]}.", dir=_ensure(tree.parent)))
        archive_path = staging.parent / f"{staging.name}.tar"
        try:
            with archive_path.open("wb") as sink:
                await self._git(["archive", "--format=tar", sha], mirror, GitCredentials(),
                                stdout=sink)
            # Off the event loop: a large tree must not stall every other reconcile.
            await asyncio.to_thread(extract, archive_path, staging, tree)
        except tarfile.FilterError as exc:
            member = exc.tarinfo.name if exc.tarinfo else "?"
            raise InvalidSourceError(f"{member} (commit {sha[:12]}) points outside the "
                                     "repository: symlinks must stay inside it",
                                     reason="InvalidSource") from None
        except tarfile.TarError as exc:
            raise SourceUnavailableError(f"cannot export commit {sha[:12]}: {exc}") from None
        finally:
            await asyncio.to_thread(discard, archive_path, staging)

    # -- git ---------------------------------------------------------------------------------

    async def _fetch(self, repository: str, mirror: Path, credentials: GitCredentials) -> None:
        if not (mirror / "HEAD").exists():
            _ensure(mirror.parent)
            shutil.rmtree(mirror, ignore_errors=True)
            await self._git(["init", "--bare", "--quiet", str(mirror)], self.root, credentials)
        try:
            await self._git(["fetch", "--quiet", "--prune", "--force", repository,
                             "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
                             "+HEAD:refs/hybridcloud/remote-head"], mirror, credentials,
                            watch=mirror)
        except SourceError as exc:
            if exc.reason == "LimitExceeded":
                # What was fetched so far is useless and may be large: drop the mirror.
                shutil.rmtree(mirror, ignore_errors=True)
                self._refs.forget(repository)
            raise explain_refusal(exc, repository, credentials) from None

    async def _rev_parse(self, mirror: Path, revision: str) -> str | None:
        refs = ["refs/hybridcloud/remote-head"] if revision == "HEAD" else \
            [f"refs/heads/{revision}", f"refs/tags/{revision}", revision]
        for ref in refs:
            try:
                out = await self._git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                                      mirror, GitCredentials())
            except SourceError:
                continue
            return out.decode().strip()
        return None

    async def _git(self, args: list[str], cwd: Path, credentials: GitCredentials, *,
                   stdout: io.BufferedWriter | None = None, watch: Path | None = None) -> bytes:
        """Run git; output goes to ``stdout`` when given (large exports never sit in memory).
        With ``watch``, the folder's size is held to ``max_fetch_bytes`` while git runs."""
        with self._environment(credentials) as env:
            process = await asyncio.create_subprocess_exec(
                "git", *args, cwd=str(_ensure(cwd)), env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout if stdout is not None else asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            outcome = asyncio.ensure_future(process.communicate())
            waiters: set[asyncio.Future[Any]] = {outcome}
            guard = asyncio.ensure_future(self._watchfolder_size(watch)) if watch else None
            if guard:
                waiters.add(guard)
            done, _ = await asyncio.wait(waiters, timeout=self.limits.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if outcome not in done:
                process.kill()
                await process.wait()
                outcome.cancel()
                if guard is not None and guard in done:
                    raise InvalidSourceError(
                        f"the repository is larger than the limit {_SETTING}GIT_MAX_FETCH_BYTES"
                        f"={self.limits.max_fetch_bytes}", reason="LimitExceeded")
                raise InvalidSourceError(f"git {args[0]} took longer than the limit "
                                         f"{_SETTING}GIT_TIMEOUT={self.limits.timeout:.0f}s",
                                         reason="LimitExceeded")
            if guard is not None:
                guard.cancel()
            out, err = outcome.result()
        if watch is not None and folder_size(watch) > self.limits.max_fetch_bytes:
            raise InvalidSourceError(f"the repository is larger than the limit {_SETTING}"
                                     f"GIT_MAX_FETCH_BYTES={self.limits.max_fetch_bytes}",
                                     reason="LimitExceeded")
        if process.returncode != 0:
            detail = redact(err.decode(errors="replace").strip(), credentials.secrets())
            detail = detail or f"exit {process.returncode}"
            if any(m in detail for m in _TOO_SLOW):
                raise InvalidSourceError(
                    f"git {args[0]} aborted: the server sent less than the limit "
                    f"{_SETTING}GIT_LOW_SPEED_BYTES={self.limits.low_speed_bytes} bytes/s for "
                    f"{_SETTING}GIT_LOW_SPEED_SECONDS={self.limits.low_speed_seconds}s",
                    reason="LimitExceeded")
            raise SourceUnavailableError(f"git {args[0]} failed: {detail}")
        return out or b""

    async def _watchfolder_size(self, folder: Path) -> None:
        """Returns once ``folder`` holds more than ``max_fetch_bytes``."""
        while True:  # polling: a folder's size has no event to wait for
            if await asyncio.to_thread(folder_size, folder) > self.limits.max_fetch_bytes:
                return
            await asyncio.sleep(0.2)

    @contextlib.contextmanager
    def _environment(self, credentials: GitCredentials) -> Iterator[dict[str, str]]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("GIT_", "SSH_"))}
        protocols = NETWORK_PROTOCOLS + (":file" if self.allow_local else "")
        env.update(GIT_TERMINAL_PROMPT="0", GIT_ALLOW_PROTOCOL=protocols,
                   GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C",
                   GIT_HTTP_LOW_SPEED_LIMIT=str(self.limits.low_speed_bytes),
                   GIT_HTTP_LOW_SPEED_TIME=str(self.limits.low_speed_seconds))
        if self.ca_bundle is not None:
            env["GIT_SSL_CAINFO"] = str(self.ca_bundle)
        # A private (0700) directory outside the cache: credentials must never sit among the
        # cached repositories, not even while a fetch runs (the chart mounts /tmp writable).
        with tempfile.TemporaryDirectory(prefix="hybridcloud-git-auth-") as scratch:
            if credentials.token:
                askpass = Path(scratch) / "askpass"
                askpass.write_text(_ASKPASS)
                askpass.chmod(0o700)
                env.update(GIT_ASKPASS=str(askpass), HYBRIDCLOUD_GIT_TOKEN=credentials.token)
                if credentials.username:
                    env["HYBRIDCLOUD_GIT_USERNAME"] = credentials.username
            # Never wait for a password or a host-key prompt: there is nobody to answer. Host
            # keys come from the Secret and the operator's file only; unknown hosts are refused.
            hosts = Path(scratch) / "known_hosts"
            known = [credentials.known_hosts or ""]
            if self.known_hosts is not None and self.known_hosts.is_file():
                known.append(self.known_hosts.read_text())
            hosts.write_text("\n".join(k.strip() for k in known if k.strip()) + "\n")
            options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                       "-o", f"UserKnownHostsFile={hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
                       "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15",
                       "-o", "ServerAliveCountMax=2"]
            if credentials.ssh_private_key:
                key = Path(scratch) / "id"
                key.touch(mode=0o600)
                key.write_text(credentials.ssh_private_key.strip() + "\n")
                options += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
            env["GIT_SSH_COMMAND"] = shlex.join(["ssh", *options])
            yield env

    @staticmethod
    def _forget_old_trees(base: Path) -> None:
        trees = sorted((p for p in base.iterdir() if p.is_dir() and "." not in p.name),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        for old in trees[_KEEP_TREES:]:
            shutil.rmtree(old, ignore_errors=True)


def _touched(tree: Path) -> bool:
    """Mark an exported tree as used now (the cleanup keeps the latest used); False when there
    is none (never touch() it into existence: an empty file would pass for the tree)."""
    try:
        os.utime(tree)
    except FileNotFoundError:
        return False
    return True


def _ensure(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory
