"""`make bench` compares its results with the previous bench/results/latest.json."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import Result, compare, load_previous, write


def previous_run(tmp_path: Path, results: list[Result]) -> dict[str, object]:
    path = tmp_path / "latest.json"
    write(results, path, {"bench_scale": 1.0})
    loaded = load_previous(path)
    assert loaded is not None
    return loaded


def line_of(text: str, case: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(case + " ")
                or line.startswith(case + "  "))


def test_each_case_shows_previous_value_new_value_and_relative_change(tmp_path: Path) -> None:
    before = previous_run(tmp_path, [Result("converge_rate", 100.0, "clusters/s", 120.0)])
    text = compare(before, [Result("converge_rate", 80.0, "clusters/s", 120.0)])
    row = line_of(text, "converge_rate").split()
    assert row == ["converge_rate", "100", "80", "-20.0%"]


def test_cases_measured_at_several_sizes_are_matched_by_their_parameters(
        tmp_path: Path) -> None:
    before = previous_run(tmp_path, [
        Result("idle_rss", 100.0, "MiB", parameters={"clusters": 0}),
        Result("idle_rss", 200.0, "MiB", parameters={"clusters": 5000,
                                                      "by_verb": {"get": 1}})])
    text = compare(before, [Result("idle_rss", 110.0, "MiB", parameters={"clusters": 0}),
                            Result("idle_rss", 200.0, "MiB", parameters={"clusters": 5000})])
    assert line_of(text, "idle_rss [clusters=0]").endswith("+10.0%")
    assert line_of(text, "idle_rss [clusters=5000]").endswith("=")


def test_new_cases_cases_not_run_and_steps_from_zero_are_named(tmp_path: Path) -> None:
    before = previous_run(tmp_path, [Result("restart_writes", 0.0, "requests"),
                                     Result("fanout_seconds", 3.0, "s")])
    text = compare(before, [Result("restart_writes", 2.0, "requests"),
                            Result("fleet_rss", 300.0, "MiB")])
    assert line_of(text, "restart_writes").endswith("+2")
    assert line_of(text, "fleet_rss").endswith("new case")
    assert line_of(text, "fanout_seconds").endswith("not run")


def test_a_missing_or_unreadable_previous_file_means_no_comparison(tmp_path: Path) -> None:
    assert load_previous(tmp_path / "absent.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert load_previous(broken) is None
    broken.write_text(json.dumps([1, 2]))
    assert load_previous(broken) is None
