"""The push record the Git webhook receiver writes and the operator watches (issue 19): what it
keeps, what a malformed one does (nothing), and which pushes the operator acts on (each new one
once; none of those recorded before it started)."""

from __future__ import annotations

import json
from typing import Any

from hybridcloud.controllers.git_pushes import GitPushWatch
from hybridcloud.delivery.githooks import Push, tracked_by
from hybridcloud.delivery.gitpushes import (
    PUSHES_KEPT,
    RECORD_KEY,
    RECORD_NAME,
    RecordedPush,
    recorded,
    with_push,
)

SHOP = Push(frozenset({"git.example.com/team/shop"}), "refs/heads/main", "main")


def test_a_record_keeps_the_newest_pushes_in_order_and_reads_back_what_was_written() -> None:
    data: dict[str, str] | None = None
    for i in range(PUSHES_KEPT + 5):
        data = with_push(data, f"git-push:{i}", SHOP)
    pushes = recorded(data)
    assert [p.token for p in pushes] == [f"git-push:{i}" for i in range(5, PUSHES_KEPT + 5)]
    assert pushes[-1].push == SHOP


def test_malformed_records_and_entries_are_left_out_without_failing() -> None:
    good = json.loads(with_push(None, "git-push:good", SHOP)[RECORD_KEY])[0]
    bad: list[Any] = [
        "a string", {**good, "token": ""}, {**good, "ref": "main"},
        {**good, "ref": "refs/pull/1/head"}, {**good, "repositories": []},
        {**good, "repositories": [7]}, {**good, "repositories": "git.example.com/team/shop"},
        {**good, "token": "x" * 5000}, {**good, "defaultBranch": ["main"]}]
    assert recorded({RECORD_KEY: json.dumps([*bad, good])}) == [
        RecordedPush("git-push:good", SHOP)]
    for data in (None, {}, {RECORD_KEY: "not json"}, {RECORD_KEY: '{"a": 1}'},
                 {RECORD_KEY: 17}):
        assert recorded(data) == []


def test_a_recorded_push_tracks_the_same_applications_as_the_payload_it_came_from() -> None:
    [entry] = recorded(with_push(None, "git-push:1", SHOP))

    def app(repository: str, revision: str) -> dict[str, Any]:
        return {"spec": {"source": {"repository": repository, "revision": revision}}}

    assert tracked_by(entry.push, app("https://git.example.com/team/shop.git", "main"))
    assert tracked_by(entry.push, app("git@git.example.com:team/shop", "HEAD"))
    assert not tracked_by(entry.push, app("https://git.example.com/team/shop.git", "release"))
    assert not tracked_by(entry.push, app("https://git.example.com/other/shop.git", "main"))
    assert not tracked_by(entry.push, {"spec": {"source": "not a mapping"}})


def _configmap(*tokens: str) -> dict[str, Any]:
    data: dict[str, str] | None = None
    for token in tokens:
        data = with_push(data, token, SHOP)
    return {"metadata": {"namespace": "hybridcloud-system", "name": RECORD_NAME, "uid": "u"},
            "data": data}


def test_the_operator_acts_on_each_new_push_once_and_not_on_those_recorded_before_it_started(
        ) -> None:
    seen: list[str] = []
    watch = GitPushWatch(object(), "hybridcloud-system",  # type: ignore[arg-type]
                         lambda push: seen.append(push.token))
    at_start = _configmap("git-push:old")
    watch.cache.get = lambda namespace, name: at_start  # type: ignore[method-assign]
    watch._changed("ADDED", at_start)  # the first listing ...
    watch._changed("LISTED", {})  # ... is what happened before the operator started
    assert seen == []
    watch._changed("MODIFIED", _configmap("git-push:old", "git-push:1"))
    watch._changed("MODIFIED", _configmap("git-push:old", "git-push:1"))  # a repeated event
    assert seen == ["git-push:1"]
    # Two pushes between two events (or a relist after the watch expired): both are new.
    watch._changed("ADDED", _configmap("git-push:1", "git-push:2", "git-push:3"))
    watch._changed("LISTED", {})
    assert seen == ["git-push:1", "git-push:2", "git-push:3"]
    # Another ConfigMap with the label, or a deleted record, is nothing to act on.
    other = {**_configmap("git-push:4"), "metadata": {"name": "forged", "namespace": "x"}}
    watch._changed("MODIFIED", other)
    watch._changed("DELETED", _configmap("git-push:5"))
    assert seen == ["git-push:1", "git-push:2", "git-push:3"]
