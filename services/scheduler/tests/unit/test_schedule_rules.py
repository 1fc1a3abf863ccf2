"""The schedule's rules and stream housekeeping's, as pure functions."""

from __future__ import annotations

from scheduler.domain.housekeeping import Growth, alert_title, dead_letter_growth
from scheduler.domain.schedule import MIN_WAIT_S, next_in_ms, wait_s
from scheduler.ports import Start


def test_the_next_run_is_one_interval_on_put_off_by_at_most_the_jitter() -> None:
    assert next_in_ms(60, 0.1, lambda: 0.0) == 60_000
    assert next_in_ms(60, 0.1, lambda: 0.5) == 63_000
    assert next_in_ms(60, 0.1, lambda: 0.999) < 66_000
    assert next_in_ms(60, 0, lambda: 0.7) == 60_000


def test_a_replica_waits_until_the_job_is_due_but_never_longer_than_the_poll() -> None:
    assert wait_s(Start(fence=None, now_ms=1_000, due_ms=3_000), poll_s=5) == 2
    assert wait_s(Start(fence=None, now_ms=1_000, due_ms=60_000), poll_s=5) == 5


def test_a_job_another_replica_holds_is_asked_for_again_after_the_poll() -> None:
    assert wait_s(Start(fence=None, now_ms=1_000, due_ms=None), poll_s=5) == 5


def test_a_job_due_any_moment_is_not_asked_for_in_a_tight_loop() -> None:
    assert wait_s(Start(fence=None, now_ms=2_999, due_ms=3_000), poll_s=5) == MIN_WAIT_S


def test_only_dead_letter_streams_that_grew_are_news_largest_growth_first() -> None:
    seen = {"a:dlq": 2, "b:dlq": 5, "c:dlq": 1}
    now = {"a:dlq": 3, "b:dlq": 5, "c:dlq": 0, "d:dlq": 4}

    assert dead_letter_growth(seen, now) == [Growth("d:dlq", 4, 4), Growth("a:dlq", 1, 3)]


def test_a_stream_emptied_by_an_operator_is_the_next_baseline_not_news() -> None:
    assert dead_letter_growth({"a:dlq": 9}, {"a:dlq": 1}) == []


def test_the_alert_title_names_each_stream_and_fits_an_incident() -> None:
    assert (
        alert_title([Growth("deploy:queue:dlq", 2, 7)]) == "New dead letters: deploy:queue +2 (7)"
    )
    many = [Growth(f"worker:po:{n:040d}:input:dlq", 1, 1) for n in range(20)]
    assert len(alert_title(many)) == 300
