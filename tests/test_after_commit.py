"""after_commit=True: delivered when the transaction commits, never when it rolls back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError
from django.test import override_settings

from django_events import Event, EventDispatcher, dispatcher, on
from django_events.testing import Capture
from tests.conftest import Recorder


class Paid(Event):
    amount: int


class Rollback(Exception):
    pass


@pytest.mark.parametrize("mode", ["sync", "gevent"])
@pytest.mark.django_db(transaction=True)
def test_delivered_on_commit_not_before(mode: Any) -> None:
    d = EventDispatcher(mode=mode)
    now, later = Recorder("now"), Recorder("later")
    d.register("a", now)
    d.register("a", later, after_commit=True)
    with transaction.atomic():
        d.dispatch("a", 1)
        d.clear_queue()
        assert now.calls == [("a", 1)]
        assert later.calls == []
    d.clear_queue()
    assert later.calls == [("a", 1)]


@pytest.mark.django_db(transaction=True)
def test_never_delivered_on_rollback(sync: EventDispatcher, recorder: Recorder) -> None:
    on(Paid, dispatcher=sync, after_commit=True)(recorder)

    def pay_then_fail() -> None:
        with transaction.atomic():
            sync.dispatch(Paid(1))
            raise Rollback

    with pytest.raises(Rollback):
        pay_then_fail()
    assert recorder.calls == []


@pytest.mark.django_db(transaction=True)
def test_nested_savepoint_rollback_drops_only_its_events(sync: EventDispatcher, recorder: Recorder) -> None:
    sync.register("a", recorder, after_commit=True)
    with transaction.atomic():
        sync.dispatch("a", "outer")
        try:
            with transaction.atomic():
                sync.dispatch("a", "inner")
                raise Rollback
        except Rollback:
            pass
        assert recorder.calls == []
    assert recorder.calls == [("a", "outer")]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_delivers_at_once(sync: EventDispatcher, recorder: Recorder) -> None:
    sync.register("a", recorder, after_commit=True)
    sync.dispatch("a")
    assert recorder.calls == [("a",)]


@pytest.mark.django_db
def test_works_with_captured_on_commit_callbacks(
    sync: EventDispatcher,
    recorder: Recorder,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    sync.register("a", recorder, after_commit=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sync.dispatch("a")
        assert recorder.calls == []
    assert len(callbacks) == 1
    assert recorder.calls == [("a",)]


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_using_names_the_database_alias(sync: EventDispatcher, recorder: Recorder) -> None:
    sync.register("a", recorder, after_commit=True, using="other")
    with transaction.atomic(using="other"):
        sync.dispatch("a")
        assert recorder.calls == []
    assert recorder.calls == [("a",)]


def test_registrations_say_when_they_deliver(sync: EventDispatcher) -> None:
    sync.register("a", print)
    sync.register("b", print, after_commit=True)
    sync.register("c", print, after_commit=True, using="other")
    assert [(r.after_commit, r.using) for r in sync.registrations] == [
        (False, None),
        (True, None),  # the event's own database (a model event's), else "default"
        (True, "other"),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"after_commit": "yes"}, r"after_commit must be True or False, got 'yes' \(str\)"),
        ({"after_commit": True, "using": 3}, r"using must be a database alias \(str\), got 3 \(int\)"),
        ({"after_commit": True, "using": ""}, r"using must be a database alias \(str\), got ''"),
        ({"using": "other"}, r"using='other' only applies with after_commit=True"),
    ],
)
def test_bad_options_fail_at_registration(sync: EventDispatcher, options: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        sync.register("a", print, **options)
    with pytest.raises(TypeError, match=message):
        on("a", dispatcher=sync, **options)
    assert sync.registrations == ()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_immediate_handlers_run_first(sync: EventDispatcher) -> None:
    seen: list[str] = []
    sync.register("a", lambda name: seen.append("after-commit"), after_commit=True)
    sync.register("a", lambda name: seen.append("immediate"))
    sync.dispatch("a")
    assert seen == ["immediate", "after-commit"]


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_EVENTS={"RAISE_HANDLER_ERRORS": True})
def test_a_failing_after_commit_handler_does_not_stop_other_commit_hooks(
    sync: EventDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def fails(name: str) -> None:
        raise RuntimeError("handler failed")

    sync.register("a", fails, after_commit=True)
    with transaction.atomic():
        sync.dispatch("a")
        transaction.on_commit(lambda: ran.append("other hook"))
    assert ran == ["other hook"]
    assert "handler failed" in caplog.text  # logged by Django's robust on_commit, not lost


def test_a_test_without_database_access_can_dispatch_to_after_commit_handlers(events: Capture) -> None:
    seen: list[str] = []
    on("no::database", after_commit=True)(lambda name: seen.append(name))
    dispatcher.dispatch("no::database")  # no connection, so no transaction: delivered at once
    assert seen == ["no::database"]
    events.assert_dispatched("no::database")


def test_a_failing_after_commit_handler_without_a_connection_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    strict = EventDispatcher(mode="sync", raise_handler_errors=True)

    def fails(name: str) -> None:
        raise RuntimeError("handler failed")

    strict.register("a", fails, after_commit=True)
    strict.dispatch("a")  # as Django's robust on_commit: logged, never raised into the caller
    assert "Error calling after-commit delivery of 'a' in on_commit() (handler failed)." in caplog.text


@pytest.mark.django_db(transaction=True)
def test_manual_transaction_management_is_refused_as_django_refuses_it(sync: EventDispatcher) -> None:
    sync.register("a", lambda name: None, after_commit=True)
    transaction.set_autocommit(False)
    try:
        with pytest.raises(TransactionManagementError, match="manual transaction management"):
            sync.dispatch("a")  # no commit would ever tell it: refused, not run at once
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)
