"""The crash loop of bench/reliability, short: `digest send` killed five times mid-send.

The benchmark runs the same code on 10,000 subscribers with 20 kills (bench/README.md,
"Reliability"); here 1,500 subscribers and 5 kills keep it within CI's time.
"""

from __future__ import annotations

from pathlib import Path

from bench.reliability.crash_loop import run_crash_loop


def test_a_send_killed_again_and_again_loses_nobody_and_resends_only_the_unconfirmed(
    tmp_path: Path, database_url: str
) -> None:
    result = run_crash_loop(
        tmp_path, subscribers=1500, kills=5, seed=7, database_url=database_url, max_delay=1.5
    )
    assert result.problems == []
    assert len(result.kills) == 5 and result.mid_send >= 1
    assert result.missing == 0 and result.taken == 1500 + result.taken_twice
    assert all(kill.new_unconfirmed <= result.connections for kill in result.kills)
    assert result.taken_twice <= result.unconfirmed
    if database_url.startswith("sqlite"):
        assert {kill.integrity for kill in result.kills} == {"ok"}
