"""A run of some benchmark groups updates those groups in bench/results/latest.json and keeps
every other group's figures, each stamped with the run it came from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.latest import commit_of, merge, run_stamp
from bench.report import Result, compare, load_previous, write


def stamp(day: int, scale: float = 1.0, commit: str = "abc123") -> dict[str, Any]:
    context = {"bench_scale": scale, "load_average_before": (1.0, 1.0, 1.0),
               "load_average_after": (2.0, 2.0, 2.0)}
    return run_stamp(context, commit, datetime(2026, 12, day, tzinfo=UTC))


def run(previous: dict[str, Any] | None, measured: dict[str, list[Result]],
        when: dict[str, Any]) -> dict[str, Any]:
    """Merge, then go through JSON as the file does (tuples become lists, etc.)."""
    document = merge(previous, measured, when, {"bench_scale": when["bench_scale"],
                                                 "elapsed_s": 10.0})
    loaded = json.loads(json.dumps(document))
    assert isinstance(loaded, dict)
    return loaded


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in document["results"]}


def test_a_run_replaces_its_groups_entries_and_keeps_the_other_groups(tmp_path: Path) -> None:
    first = run(None, {"api": [Result("rest_get_p99", 5.0, "ms", 4.0)],
                       "git": [Result("git_requests", 50.0, "requests")]}, stamp(1))
    second = run(first, {"api": [Result("rest_get_p99", 6.0, "ms", 4.0),
                                 Result("rest_list_p99", 9.0, "ms", 3.0)]},
                 stamp(2, scale=0.5, commit="def456"))
    entries = by_name(second)
    assert sorted(entries) == ["git_requests", "rest_get_p99", "rest_list_p99"]
    assert entries["rest_get_p99"]["value"] == 6.0
    assert entries["rest_get_p99"]["ratio"] == 1.5
    assert [e["name"] for e in second["results"]].count("rest_get_p99") == 1
    # each entry says which run it came from
    assert (entries["git_requests"]["measured_at"], entries["git_requests"]["bench_scale"],
            entries["git_requests"]["commit"]) == ("2026-12-01T00:00:00+00:00", 1.0, "abc123")
    assert (entries["rest_list_p99"]["measured_at"], entries["rest_list_p99"]["bench_scale"],
            entries["rest_list_p99"]["commit"]) == ("2026-12-02T00:00:00+00:00", 0.5, "def456")
    assert entries["rest_list_p99"]["load_average_after"] == [2.0, 2.0, 2.0]
    assert second["runs"]["git"]["commit"] == "abc123"
    assert second["runs"]["api"]["commit"] == "def456"


def test_a_group_that_did_not_finish_keeps_its_previous_figures_beside_the_failure(
        ) -> None:
    first = run(None, {"fleet": [Result("fleet_rss", 300.0, "MiB")]}, stamp(1))
    failed = run(first, {"fleet": [Result("fleet (group)", None, "",
                                          note="did not finish: TimeoutError")]}, stamp(2))
    entries = by_name(failed)
    assert entries["fleet_rss"]["value"] == 300.0
    assert entries["fleet_rss"]["measured_at"].startswith("2026-12-01")
    assert entries["fleet (group)"]["note"] == "did not finish: TimeoutError"
    assert failed["runs"]["fleet"]["measured_at"].startswith("2026-12-01")
    # once the group finishes again, both the old figures and the failure note are replaced
    fixed = run(failed, {"fleet": [Result("fleet_rss", 280.0, "MiB")]}, stamp(3))
    assert [(e["name"], e["value"]) for e in fixed["results"]] == [("fleet_rss", 280.0)]


def test_entries_from_a_file_written_before_merging_are_kept_with_that_files_stamp(
        tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    write([Result("health_probe_requests_per_s", 393.0, "req/s", 400.0,
                  {"clusters": 1000})], path, {"bench_scale": 1.0})
    old = load_previous(path)
    assert old is not None
    merged = run(old, {"git": [Result("git_requests", 50.0, "requests")]}, stamp(2))
    health = by_name(merged)["health_probe_requests_per_s"]
    assert health["value"] == 393.0
    assert health["measured_at"] == old["generated_at"]
    assert (health["bench_scale"], health["commit"]) == (1.0, "unknown")
    # a later run of a group producing that case name replaces it
    again = run(merged, {"health": [Result("health_probe_requests_per_s", 390.0, "req/s",
                                           400.0, {"clusters": 1000})]}, stamp(3))
    assert [e["value"] for e in again["results"]
            if e["name"] == "health_probe_requests_per_s"] == [390.0]


def test_comparison_leaves_out_groups_this_run_did_not_measure() -> None:
    previous = run(None, {"api": [Result("rest_get_p99", 5.0, "ms")],
                          "git": [Result("git_requests", 50.0, "requests")]}, stamp(1))
    text = compare(previous, [Result("rest_get_p99", 4.0, "ms")], groups={"api"})
    assert "rest_get_p99" in text and "-20.0%" in text
    assert "git_requests" not in text
    gone = compare(previous, [], groups={"git"})
    assert any(line.startswith("git_requests") and line.endswith("not run")
               for line in gone.splitlines())
    # entries of a file from before groups were recorded: compared when this run has the case
    legacy = {"results": [{"name": "health_probe_cpu_ms", "value": 2.0, "parameters": {}},
                          {"name": "fleet_rss", "value": 300.0, "parameters": {}}]}
    text = compare(legacy, [Result("health_probe_cpu_ms", 3.0, "ms")], groups={"health"})
    assert "+50.0%" in text and "fleet_rss" not in text


def test_the_commit_names_head_and_says_when_the_code_had_local_changes(
        tmp_path: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f").write_text("a")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "x")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert commit_of(tmp_path) == head
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "latest.json").write_text("{}")
    git("add", "bench")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "y")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (results / "latest.json").write_text('{"results": []}')  # what every run rewrites
    assert commit_of(tmp_path) == head
    (tmp_path / "f").write_text("b")
    assert commit_of(tmp_path) == head + "+dirty"
    assert commit_of(tmp_path / "absent") == "unknown"
