"""Freed memory goes back to the system after a burst (a restart's whole-fleet list), and only
then: the releaser trims when the RSS grew past its threshold since the last release."""

from __future__ import annotations

from hybridcloud.controllers.memory import MemoryReleaser, glibc_trim, rss_bytes

MIB = 2**20


class Process:
    def __init__(self, rss: int) -> None:
        self.rss = rss
        self.trims = 0
        self.returned = 0  # what a trim gives back

    def trim(self) -> None:
        self.trims += 1
        self.rss -= self.returned


def test_a_burst_is_released_once_and_quiet_growth_is_left_alone() -> None:
    process = Process(100 * MIB)
    releaser = MemoryReleaser(process.trim, lambda: process.rss, growth=32 * MIB)
    process.rss += 20 * MIB
    assert not releaser.look() and process.trims == 0  # below the threshold
    process.rss += 300 * MIB
    process.returned = 250 * MIB
    assert releaser.look() and process.trims == 1 and process.rss == 170 * MIB
    assert not releaser.look()  # measured from what the release left: nothing new
    process.rss -= 60 * MIB
    process.rss += 40 * MIB  # back under the mark, then less growth than the threshold from it
    assert not releaser.look() and process.trims == 1


def test_without_glibc_nothing_is_trimmed() -> None:
    process = Process(100 * MIB)
    releaser = MemoryReleaser(None, lambda: process.rss, growth=MIB)
    process.rss += 500 * MIB
    assert not releaser.look() and releaser.releases == 0


def test_the_real_trim_and_rss_work_on_this_system() -> None:
    trim = glibc_trim()
    assert trim is not None  # the operator's images and CI run on glibc
    before = rss_bytes()
    assert before > 0
    trim()
    assert rss_bytes() <= before + 8 * MIB
