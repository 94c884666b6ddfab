"""The ledger keeps one row per (issue, subscriber) and never loses or repeats one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from digest.errors import LedgerError
from digest.ledger import Ledger
from digest.ledger.deliveries import Step
from digest.models import (
    DeliveryState,
    DeliveryTask,
    IsoWeek,
    Outcome,
    RenderedIssue,
    Subscriber,
)

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
    ledger.prepare_deliveries(saved.id, lambda email: f"<{email}>", NOW)
    return saved.id


W = "host:1:w1"  # the send worker of these tests


def _start_all(ledger: Ledger, issue_id: int) -> list[DeliveryTask]:
    tasks = ledger.claim_page(issue_id, W, 100, NOW)
    assert all(ledger.journal([Step(t.delivery_id) for t in tasks], W, NOW))
    return tasks


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
    assert ledger.prepare_deliveries(issue_id, lambda email: "x", NOW) == 0
    assert ledger.counts(issue_id) == {"pending": 3}


def test_rows_are_prepared_page_by_page_for_active_subscribers_only(ledger: Ledger) -> None:
    _people(ledger, 7)
    ledger.set_subscriber_status("p3@example.org", "unsubscribed")
    saved = ledger.save_issue("Lettre", WEEK, 1, RENDERED, "{}", NOW)
    assert ledger.prepare_deliveries(saved.id, lambda email: f"<{email}>", NOW, page=2) == 6
    tasks = ledger.claim_page(saved.id, W, 100, NOW)
    assert [t.message_id for t in tasks][:2] == ["<p0@example.org>", "<p1@example.org>"]


def test_a_row_starts_once_and_a_started_row_is_in_flight_until_answered(ledger: Ledger) -> None:
    people = _people(ledger, 3)
    issue_id = _prepare(ledger, people)
    first, second, _ = ledger.claim_page(issue_id, W, 10, NOW)
    assert ledger.journal([Step(first.delivery_id), Step(first.delivery_id)], W, NOW) == [
        True,
        False,
    ]
    ledger.journal([Step(second.delivery_id)], W, NOW)
    ledger.record(first.delivery_id, Outcome(DeliveryState.SENT, 250, "ok"), NOW)
    assert ledger.in_flight(issue_id) == ["p1@example.org"]
    # While its worker lives, the row is its own, not an unconfirmed one.
    assert ledger.in_flight(issue_id, [W]) == []
    assert ledger.resend_unconfirmed(issue_id, [W], NOW) == []
    assert ledger.resend_unconfirmed(issue_id, [], NOW) == ["p1@example.org"]
    assert ledger.counts(issue_id) == {"sent": 1, "pending": 2}


def test_a_bounce_marks_the_subscriber_and_excludes_them_later(ledger: Ledger) -> None:
    people = _people(ledger, 2)
    issue_id = _prepare(ledger, people)
    tasks = _start_all(ledger, issue_id)
    ledger.record(tasks[0].delivery_id, Outcome(DeliveryState.BOUNCED, 550, "no such user"), NOW)
    assert [s.email for s, _ in ledger.list_subscribers()] == [tasks[1].subscriber.email]
    statuses = dict((s.email, st) for s, st in ledger.list_subscribers(active_only=False))
    assert statuses[tasks[0].subscriber.email] == "bounced"


def test_rows_of_people_who_left_become_suppressed(ledger: Ledger) -> None:
    people = _people(ledger, 3)
    issue_id = _prepare(ledger, people)
    ledger.set_subscriber_status("p0@example.org", "unsubscribed")
    assert ledger.suppress_inactive(issue_id, NOW) == 1
    ledger.set_subscriber_status("p1@example.org", "complained")
    assert [t.subscriber.email for t in ledger.claim_page(issue_id, W, 10, NOW)] == [
        "p2@example.org"
    ]
    assert ledger.counts(issue_id) == {"suppressed": 2, "pending": 1}


def test_deferred_rows_return_to_pending_when_their_retry_time_comes(ledger: Ledger) -> None:
    people = _people(ledger, 1)
    issue_id = _prepare(ledger, people)
    (task,) = _start_all(ledger, issue_id)
    later = NOW + dt.timedelta(minutes=2)
    outcome = Outcome(DeliveryState.DEFERRED, 451, "try later")
    ledger.journal([Step(task.delivery_id, outcome, retry_at=later)], W, NOW)
    assert ledger.next_retry(issue_id) == later
    assert ledger.requeue_due(issue_id, NOW + dt.timedelta(minutes=1)) == 0
    assert ledger.requeue_due(issue_id, later) == 1
    (again,) = ledger.claim_page(issue_id, W, 10, NOW)
    assert (again.subscriber.email, again.attempts) == ("p0@example.org", 1)


def test_soft_bounces_suppress_only_past_the_threshold(ledger: Ledger) -> None:
    _people(ledger, 2)
    assert ledger.record_bounce("p0@example.org", "soft", "4.2.2 full", NOW, 2) == "active"
    assert ledger.record_bounce("p0@example.org", "soft", "4.2.2 full", NOW, 2) == "bounced"
    assert ledger.record_bounce("p1@example.org", "hard", "5.1.1 gone", NOW, 2) == "bounced"
    assert ledger.record_bounce("nobody@example.org", "hard", "5.1.1", NOW, 2) is None


def test_an_issue_being_sent_cannot_be_rebuilt(ledger: Ledger) -> None:
    people = _people(ledger, 1)
    _prepare(ledger, people)
    with pytest.raises(LedgerError, match="already being sent"):
        ledger.save_issue("Lettre", WEEK, 1, RENDERED, "{}", NOW)


def test_an_unreachable_database_is_one_clear_error(tmp_path: object) -> None:
    with pytest.raises(LedgerError, match="cannot open database"):
        Ledger("sqlite:////nonexistent-dir/for/sure/ledger.db")


def test_an_unsubscribe_counts_before_the_next_message_not_the_next_page(ledger: Ledger) -> None:
    people = _people(ledger, 2)
    issue_id = _prepare(ledger, people)
    tasks = ledger.claim_page(issue_id, W, 10, NOW)
    assert [t.subscriber.email for t in tasks] == ["p0@example.org", "p1@example.org"]
    ledger.set_subscriber_status("p1@example.org", "unsubscribed")
    started = ledger.journal([Step(t.delivery_id) for t in tasks], W, NOW)
    assert started == [True, False]
    assert ledger.in_flight(issue_id) == ["p0@example.org"]


def test_an_unconfirmed_sign_up_never_receives_an_issue(ledger: Ledger) -> None:
    people = _people(ledger, 1)
    outcome = ledger.request_subscription("new@example.org", "", NOW, dt.timedelta(hours=1))
    assert outcome.value == "send_confirmation"
    issue_id = _prepare(ledger, people)
    tasks = ledger.claim_page(issue_id, W, 10, NOW)
    assert [t.subscriber.email for t in tasks] == ["p0@example.org"]
    ledger.confirm_subscription("new@example.org")
    assert ledger.find_subscriber("new@example.org") is not None
