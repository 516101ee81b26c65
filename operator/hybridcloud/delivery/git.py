"""Git sources: one bare mirror per repository, revisions resolved to commit SHAs, trees exported.

Real ``git`` does the work, so every URL git accepts for the allowed transports works (https://,
ssh://, git://, file://). The ``ext::`` style remote helpers, which run commands, are refused via
``GIT_ALLOW_PROTOCOL``. Credentials never appear on a command line or in a message: an HTTPS
token is handed to git by an askpass script reading it from the environment, an SSH key is
written to a private temporary file used through ``GIT_SSH_COMMAND`` and deleted afterwards, and
every error text is scrubbed of secrets and of user:password parts in URLs.

A mirror fetched with one set of credentials is never reused for a caller with other (or no)
credentials without a fetch of its own, so an application cannot read a private repository
through a mirror another application's Secret filled. Refused authentication is reported as
``AuthenticationFailed`` with a message saying what to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
_KEEP_TREES = 6  # exported commits kept per repository
_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${HYBRIDCLOUD_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$HYBRIDCLOUD_GIT_TOKEN" ;;
esac
"""
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")
# What git, curl and ssh print when the server wants credentials or refused them.
_AUTH_FAILURES = ("could not read Username", "could not read Password", "Authentication failed",
                  "HTTP Basic: Access denied", "The requested URL returned error: 401",
                  "The requested URL returned error: 403", "Permission denied (publickey",
                  "Invalid username or password")
_HOST_KEY_FAILURES = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED")


class SourceError(Exception):
    """The source cannot be fetched or the revision/path does not exist. ``str()`` is safe to
    show users (no secrets)."""

    def __init__(self, message: str, reason: str = "SourceUnavailable") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class GitCredentials:
    """From the Secret named by ``source.secretRef``."""

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    ssh_private_key: str | None = field(default=None, repr=False)
    known_hosts: str | None = None

    @classmethod
    def from_secret(cls, data: dict[str, str]) -> GitCredentials:
        return cls(token=data.get("token") or data.get("password"),
                   username=data.get("username"),
                   ssh_private_key=data.get("sshPrivateKey"),
                   known_hosts=data.get("knownHosts"))

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.ssh_private_key) if s]

    def identity(self) -> str:
        """A digest telling credentials apart without keeping or showing them."""
        parts = (self.token, self.username, self.ssh_private_key, self.known_hosts)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove secrets and URL user-info from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
            for line in secret.strip().splitlines():  # a key may be echoed line by line
                if len(line.strip()) > 8:
                    text = text.replace(line.strip(), "***")
    return _USERINFO.sub(r"\1***@", text)


def _check_argument(value: str, field: str) -> None:
    if not value or value.startswith("-") or "\n" in value or "\x00" in value:
        raise SourceError(f"{field} {value!r} is not a valid git {field.split('.')[-1]}",
                          reason="InvalidSource")


class GitCache:
    """Bare mirrors under ``root/repos``, exported trees under ``root/trees``."""

    def __init__(self, root: Path, *, timeout: float = 120.0) -> None:
        self.root = Path(root)
        self.timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}
        self._fetched: dict[tuple[str, str], float] = {}  # (repository, credentials identity)

    @staticmethod
    def _key(repository: str) -> str:
        return hashlib.sha256(repository.encode()).hexdigest()[:20]

    def _mirror(self, repository: str) -> Path:
        return self.root / "repos" / f"{self._key(repository)}.git"

    def _lock(self, repository: str) -> asyncio.Lock:
        return self._locks.setdefault(self._key(repository), asyncio.Lock())

    # -- public ------------------------------------------------------------------------------

    async def resolve(self, repository: str, revision: str,
                      credentials: GitCredentials | None = None, *, max_age: float = 0.0) -> str:
        """Fetch (unless fetched less than ``max_age`` seconds ago) and resolve ``revision`` (a
        branch, tag, commit or HEAD) to a full commit SHA."""
        _check_argument(repository, "source.repository")
        _check_argument(revision, "source.revision")
        credentials = credentials or GitCredentials()
        fetched_with = (repository, credentials.identity())
        async with self._lock(repository):
            mirror = self._mirror(repository)
            fresh = time.monotonic() - self._fetched.get(fetched_with, -1e9) < max_age
            if not fresh or not mirror.exists():
                await self._fetch(repository, mirror, credentials)
                self._fetched[fetched_with] = time.monotonic()
            sha = await self._rev_parse(mirror, revision)
            if sha is None and re.fullmatch(r"[0-9a-f]{7,64}", revision):
                # A commit no branch or tag points at: ask the server for it directly.
                with contextlib.suppress(SourceError):
                    await self._git(["fetch", "--quiet", repository, revision], mirror,
                                    credentials)
                sha = await self._rev_parse(mirror, revision)
            if sha is None:
                raise SourceError(f"revision {revision!r} not found in {redact(repository)}",
                                  reason="RevisionNotFound")
            return sha

    def tree(self, repository: str, sha: str) -> Path:
        """Where commit ``sha`` of ``repository`` is exported: the repository's root."""
        return self.root / "trees" / self._key(repository) / sha

    async def export(self, repository: str, sha: str, path: str) -> Path:
        """The directory ``path`` of commit ``sha``, exported once and then reused."""
        _check_argument(sha, "source.revision")
        tree = self.tree(repository, sha)
        base = tree.parent
        target = (tree / path).resolve()
        if not target.is_relative_to(tree.resolve()):
            raise SourceError(f"source.path {path!r} leaves the repository", "InvalidSource")
        async with self._lock(repository):
            if not tree.exists():
                data = await self._git(["archive", "--format=tar", sha], self._mirror(repository),
                                       GitCredentials())
                staging = Path(tempfile.mkdtemp(prefix=f"{sha[:12]}.", dir=_ensure(base)))
                with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                    archive.extractall(staging, filter="data")
                staging.rename(tree)  # noqa: ASYNC240  (a local rename; never blocks long)
                self._forget_old_trees(base)
            tree.touch()  # mtime = last use, for the cleanup above
        if not target.is_dir():
            raise SourceError(f"source.path {path!r} does not exist at commit {sha[:12]}",
                              reason="PathNotFound")
        return target

    # -- git ---------------------------------------------------------------------------------

    async def _fetch(self, repository: str, mirror: Path, credentials: GitCredentials) -> None:
        if not (mirror / "HEAD").exists():
            _ensure(mirror.parent)
            shutil.rmtree(mirror, ignore_errors=True)
            await self._git(["init", "--bare", "--quiet", str(mirror)], self.root, credentials)
        try:
            await self._git(["fetch", "--quiet", "--prune", "--force", repository,
                             "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
                             "+HEAD:refs/hybridcloud/remote-head"], mirror, credentials)
        except SourceError as exc:
            raise _explain_refusal(exc, repository, credentials) from None

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

    async def _git(self, args: list[str], cwd: Path, credentials: GitCredentials) -> bytes:
        with self._environment(credentials) as env:
            process = await asyncio.create_subprocess_exec(
                "git", *args, cwd=str(_ensure(cwd)), env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                out, err = await asyncio.wait_for(process.communicate(), self.timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise SourceError(f"git {args[0]} timed out after {self.timeout:.0f}s") from None
        if process.returncode != 0:
            detail = redact(err.decode(errors="replace").strip(), credentials.secrets())
            detail = detail or f"exit {process.returncode}"
            raise SourceError(f"git {args[0]} failed: {detail}")
        return out

    @contextlib.contextmanager
    def _environment(self, credentials: GitCredentials) -> Iterator[dict[str, str]]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("GIT_", "SSH_"))}
        env.update(GIT_TERMINAL_PROMPT="0", GIT_ALLOW_PROTOCOL=ALLOWED_PROTOCOLS,
                   GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
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
            # Never wait for a password or a host-key prompt: there is nobody to answer.
            env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
            if credentials.ssh_private_key:
                key = Path(scratch) / "id"
                key.touch(mode=0o600)
                key.write_text(credentials.ssh_private_key.strip() + "\n")
                options = ["-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
                if credentials.known_hosts:
                    hosts = Path(scratch) / "known_hosts"
                    hosts.write_text(credentials.known_hosts)
                    options += ["-o", f"UserKnownHostsFile={hosts}",
                                "-o", "StrictHostKeyChecking=yes"]
                else:
                    options += ["-o", "StrictHostKeyChecking=accept-new",
                                "-o", f"UserKnownHostsFile={Path(scratch) / 'known_hosts'}"]
                env["GIT_SSH_COMMAND"] = shlex.join(["ssh", *options])
            yield env

    @staticmethod
    def _forget_old_trees(base: Path) -> None:
        trees = sorted((p for p in base.iterdir() if p.is_dir() and "." not in p.name),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        for old in trees[_KEEP_TREES:]:
            shutil.rmtree(old, ignore_errors=True)


def _explain_refusal(error: SourceError, repository: str,
                     credentials: GitCredentials) -> SourceError:
    """``error`` restated as an authentication problem when it is one."""
    detail = str(error)
    where = redact(repository)
    if not any(m in detail for m in (*_AUTH_FAILURES, *_HOST_KEY_FAILURES)):
        return error
    if not credentials.secrets():
        return SourceError(f"{where} requires authentication: set spec.source.secretRef to a "
                           "Secret with key `token` (HTTPS) or `sshPrivateKey` (SSH)",
                           reason="AuthenticationFailed")
    if any(m in detail for m in _HOST_KEY_FAILURES):
        return SourceError(f"the SSH host key of {where} does not match `knownHosts` in the "
                           "Secret of spec.source.secretRef", reason="AuthenticationFailed")
    return SourceError(f"{where} refused the credentials in the Secret of "
                       f"spec.source.secretRef ({detail.removeprefix('git fetch failed: ')})",
                       reason="AuthenticationFailed")


def _ensure(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory
