"""The ledger keeps one row per (issue, subscriber) and never loses or repeats one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from digest.errors import LedgerError
from digest.ledger import Ledger
from digest.models import DeliveryState, IsoWeek, Outcome, RenderedIssue, Subscriber

NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)
WEEK = IsoWeek(2025, 4)
RENDERED = RenderedIssue("Sujet", "Préheader", "<html></html>", "texte", "<html>web</html>")


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    ledger = Ledger(database_url)
    yield ledger
    ledger.close()


def _people(ledger: Ledger, count: int) -> list[Subscriber]:
    ledger.add_subscribers([Subscriber(f"p{i}@example.org", f"P {i}") for i in range(count)], NOW)
    return [s for s, _ in ledger.list_subscribers()]


def _prepare(ledger: Ledger, people: list[Subscriber]) -> int:
    saved = ledger.save_issue("Lettre", WEEK, 1, RENDERED, "{}", NOW)
    ledger.prepare_deliveries(saved.id, [(p.id or 0, f"<{p.email}>") for p in people], NOW)
    return saved.id


def test_a_subscriber_is_added_once(ledger: Ledger) -> None:
    assert ledger.add_subscriber("a@example.org", "A", NOW) is True
    assert ledger.add_subscriber("a@example.org", "A bis", NOW) is False
    assert (
        ledger.add_subscribers([Subscriber("a@example.org"), Subscriber("b@example.org")], NOW) == 1
    )
    assert [s.email for s, _ in ledger.list_subscribers()] == ["a@example.org", "b@example.org"]


def test_issue_numbers_grow_per_newsletter_and_stay_for_a_rebuilt_week(ledger: Ledger) -> None:
    assert ledger.issue_number_for("Lettre", WEEK) == 1
    ledger.save_issue("Lettre", WEEK, 1, RENDERED, "{}", NOW)
    assert ledger.issue_number_for("Lettre", WEEK) == 1
    assert ledger.issue_number_for("Lettre", IsoWeek(2025, 5)) == 2
    assert ledger.issue_number_for("Autre", IsoWeek(2025, 5)) == 1


def test_saved_issue_reads_back_identical(ledger: Ledger) -> None:
    ledger.save_issue("Lettre", WEEK, 7, RENDERED, '{"a": 1}', NOW)
    saved = ledger.load_issue("Lettre", WEEK)
    assert saved is not None
    assert (saved.number, saved.rendered, saved.issue_json) == (7, RENDERED, '{"a": 1}')
    assert saved.built_at == NOW


def test_deliveries_are_unique_per_subscriber_even_when_prepared_twice(ledger: Ledger) -> None:
    people = _people(ledger, 3)
    issue_id = _prepare(ledger, people)
    again = ledger.prepare_deliveries(issue_id, [(p.id or 0, "x") for p in people], NOW)
    assert again == 0
    assert ledger.counts(issue_id) == {"pending": 3}


def test_claimed_rows_are_not_claimed_again_and_in_flight_ones_are_reported(ledger: Ledger) -> None:
    people = _people(ledger, 5)
    issue_id = _prepare(ledger, people)
    first = ledger.claim(issue_id, 2, NOW)
    second = ledger.claim(issue_id, 10, NOW)
    assert {t.subscriber.email for t in first}.isdisjoint({t.subscriber.email for t in second})
    assert len(first) + len(second) == 5
    assert ledger.claim(issue_id, 10, NOW) == []
    ledger.record(first[0].delivery_id, Outcome(DeliveryState.SENT, 250, "ok"), NOW)
    assert ledger.in_flight(issue_id) == sorted(
        [t.subscriber.email for t in first[1:] + second], key=lambda e: int(e[1:].split("@")[0])
    )


def test_a_bounce_marks_the_subscriber_and_excludes_them_later(ledger: Ledger) -> None:
    people = _people(ledger, 2)
    issue_id = _prepare(ledger, people)
    tasks = ledger.claim(issue_id, 10, NOW)
    ledger.record(tasks[0].delivery_id, Outcome(DeliveryState.BOUNCED, 550, "no such user"), NOW)
    assert [s.email for s, _ in ledger.list_subscribers()] == [tasks[1].subscriber.email]
    statuses = dict((s.email, st) for s, st in ledger.list_subscribers(active_only=False))
    assert statuses[tasks[0].subscriber.email] == "bounced"


def test_deferred_rows_return_to_pending_on_request(ledger: Ledger) -> None:
    people = _people(ledger, 1)
    issue_id = _prepare(ledger, people)
    (task,) = ledger.claim(issue_id, 10, NOW)
    ledger.record(task.delivery_id, Outcome(DeliveryState.DEFERRED, 451, "try later"), NOW)
    assert ledger.claim(issue_id, 10, NOW) == []
    assert ledger.requeue_deferred(issue_id, NOW) == 1
    assert [t.subscriber.email for t in ledger.claim(issue_id, 10, NOW)] == ["p0@example.org"]


def test_an_issue_being_sent_cannot_be_rebuilt(ledger: Ledger) -> None:
    people = _people(ledger, 1)
    _prepare(ledger, people)
    with pytest.raises(LedgerError, match="already being sent"):
        ledger.save_issue("Lettre", WEEK, 1, RENDERED, "{}", NOW)


def test_an_unreachable_database_is_one_clear_error(tmp_path: object) -> None:
    with pytest.raises(LedgerError, match="cannot open database"):
        Ledger("sqlite:////nonexistent-dir/for/sure/ledger.db")
