from __future__ import annotations

import re

import pytest
from django.core import checks
from django.db import models
from django.test import override_settings

from django_events import EventDispatcher, observes
from django_events._models import _observers
from django_events.checks import (
    check_after_commit_aliases,
    check_costly_patterns,
    check_observers,
    check_proxy_patterns,
    check_queued_handlers,
    check_queued_model_events,
    check_settings,
    unbounded_wildcards,
)
from tests.testapp.models import PriorityOrder


def test_valid_settings_pass() -> None:
    assert check_settings() == []


def test_registered_with_the_check_framework() -> None:
    with override_settings(DJANGO_EVENTS={"MODE": "nope"}):
        ids = [m.id for m in checks.run_checks()]
    assert "django_events.E003" in ids


@override_settings(DJANGO_EVENTS={"MODE": "nope", "UNKNOWN": True})
def test_each_problem_is_an_error_with_an_id_and_hint() -> None:
    messages = check_settings()
    assert [(m.level, m.id) for m in messages] == [
        (checks.ERROR, "django_events.E002"),
        (checks.ERROR, "django_events.E003"),
    ]
    assert messages[0].msg == "DJANGO_EVENTS has an unknown key 'UNKNOWN'."
    assert messages[0].hint == "Known keys: AUTODISCOVER, MODE, RAISE_HANDLER_ERRORS."


@override_settings(DJANGO_EVENTS="sync")
def test_not_a_dict() -> None:
    [message] = check_settings()
    assert message.id == "django_events.E001"
    assert "got 'sync' (str)" in message.msg


@override_settings(DJANGO_EVENTS={"AUTODISCOVER": "yes"})
def test_bad_autodiscover() -> None:
    [message] = check_settings()
    assert message.id == "django_events.E005"
    assert "AUTODISCOVER'] is 'yes'; expected True, False or a list of module names" in message.msg


def test_observer_of_a_model_whose_app_is_not_installed() -> None:
    class Stray(models.Model):
        class Meta:
            app_label = "not_installed"

    @observes(Stray)
    class StrayObserver:
        def created(self, instance: Stray) -> None: ...

    try:
        [message] = check_observers()
    finally:
        del _observers[StrayObserver]
    assert message.id == "django_events.E006"
    assert message.msg == (
        "tests.test_checks.test_observer_of_a_model_whose_app_is_not_installed.<locals>.StrayObserver "
        "observes not_installed.Stray, but the app 'not_installed' is not in INSTALLED_APPS."
    )
    assert check_observers() == []


def test_after_commit_on_an_unknown_database() -> None:
    d = EventDispatcher(mode="sync")
    d.register("a", print, after_commit=True, using="replica")
    d.register("b", print, after_commit=True, using="other")
    [message] = check_after_commit_aliases()
    assert message.id == "django_events.E007"
    assert (
        message.msg
        == "handler builtins.print waits for commits on database 'replica', which is not in DATABASES."
    )


def queued_handler(event_name: str) -> None:
    """A queued handler for the E008 test (module level: it has a dotted path)."""


def about_queued_handler(messages: list[checks.CheckMessage]) -> list[checks.CheckMessage]:
    """The messages about this module's handler (dispatchers of other tests may still be alive)."""
    return [m for m in messages if "tests.test_checks.queued_handler" in m.msg]


def test_a_queue_the_task_backend_does_not_list() -> None:
    d = EventDispatcher(mode="sync")
    d.register("shop.*", queued_handler, queue="mail", priority=5)  # in TASKS["default"]["QUEUES"]
    assert about_queued_handler(check_queued_handlers()) == []
    d.register("audit.*", queued_handler, queue="nowhere")
    [message] = about_queued_handler(check_queued_handlers())
    assert message.id == "django_events.E008"
    # The framework's exception: InvalidTaskError in the backport, InvalidTask in Django 6.
    assert re.fullmatch(
        r"queued handler tests.test_checks.queued_handler \(queue='nowhere', priority=None\) would be "
        r"refused by the task backend: InvalidTask(Error)?: Queue 'nowhere' is not valid for backend.",
        message.msg,
    )
    assert "django_events.E008" in [m.id for m in checks.run_checks()]


def test_a_queued_pattern_that_matches_model_events_a_worker_cannot_load() -> None:
    d = EventDispatcher(mode="sync")
    d.register(r"events::db::tests::testapp::models::Customer::(created|updated)", queued_handler, queue=True)
    assert about_queued_handler(check_queued_model_events()) == []
    d.register(r"events::db::tests::testapp::models::Customer::.*", queued_handler, queue=True)
    [message] = about_queued_handler(check_queued_model_events())
    assert message.id == "django_events.E009"
    assert message.msg.startswith(
        "queued handler tests.test_checks.queued_handler (pattern "
        "'events::db::tests::testapp::models::Customer::.*') matches "
        "'events::db::tests::testapp::models::Customer::creating': a worker loads"
    )


def proxy_audit(name: str) -> None:
    """A handler for the proxy-pattern check."""


def test_a_pattern_naming_only_a_proxys_events_is_a_warning() -> None:
    """PriorityOrder proxies Order: its saves dispatch Order's events, so a pattern naming
    PriorityOrder's never matches one."""
    d = EventDispatcher(mode="sync")
    d.register(r"events::db::tests::testapp::models::PriorityOrder::created", proxy_audit)
    d.register(r"events::db::tests::testapp::models::(Priority)?Order::created", proxy_audit)  # also Order's
    d.register(r"events::db::.*::bulk_created", proxy_audit)  # a catch-all
    messages = [m for m in check_proxy_patterns() if "proxy_audit" in m.msg]
    assert [(m.id, m.obj) for m in messages] == [("django_events.W003", PriorityOrder)]
    assert messages[0].msg == (
        "handler tests.test_checks.proxy_audit listens to "
        "'events::db::tests::testapp::models::PriorityOrder::created', which names events of the "
        "proxy testapp.PriorityOrder: a proxy's saves and bulk calls dispatch the events of its "
        "concrete model testapp.Order, so it never matches one."
    )
    assert messages[0].hint == (
        "Name the concrete model instead, as in 'events::db::tests::testapp::models::Order::created': "
        "the handler then gets the PriorityOrder instance when a PriorityOrder is saved."
    )
    assert "django_events.W003" in [m.id for m in checks.run_checks()]


def test_a_pattern_with_two_unbounded_wildcards_is_a_warning() -> None:
    d = EventDispatcher(mode="sync")

    def audit(name: str) -> None: ...

    d.register("events::.*::.*::updated", audit)
    d.register("events::(.+|x)::(?:.*)::created", audit)
    d.register("events::[^:]*::[^:]*::updated", audit)  # bounded to one part each: fine
    d.register("events::.*::updated", audit)  # one is fine
    d.register("(?=.*)a.{2,5}(x|y)*.*", audit)  # a lookahead, a bounded repeat, one more
    messages = [m for m in check_costly_patterns() if "audit" in m.msg]
    assert [(m.level, m.id) for m in messages] == [(checks.WARNING, "django_events.W001")] * 3
    assert messages[0].msg.startswith(
        "handler tests.test_checks.test_a_pattern_with_two_unbounded_wildcards_is_a_warning.<locals>.audit "
        "listens to 'events::.*::.*::updated', which has 2 unbounded wildcards: matching a long event "
        "name against it costs time in the square of the name's length"
    )
    assert (
        messages[0].hint
        == "Match one part of a name with [^:]* instead of .* (events::[^:]*::[^:]*::updated)."
    )
    assert "'(?=.*)a.{2,5}(x|y)*.*', which has 2 unbounded" in messages[2].msg


@pytest.mark.parametrize(
    ("pattern", "count"),
    [
        ("events::.*::.*::updated", 2),
        ("events::(?:.*::)+updated", 2),  # a wildcard inside an unbounded repeat
        ("events::(.*::)*updated", 2),
        ("[\\s\\S]*::[\\s\\S]*", 2),  # a class that takes ":"
        ("[\\D]*::[\\W]+", 2),
        ("[a-z:]*::[:]*", 2),
        ("(.)*::(.)*", 2),
        ("[^/]*::[^/]*", 2),
        ("(?:a|.)*::.*", 2),
        ("::*x", 1),  # the separator itself, repeated
        ("events::[^:]*::[^:]*::updated", 0),  # a part each: linear
        ("\\w*::\\d*::[a-z]+::[^a-z:]*", 0),
        ("(?:ab)*::x", 0),
        ("(?:a|b)*::x", 0),
        ("(?:a{2})*::x", 0),  # a repeat inside a repeat
    ],
)
def test_what_counts_as_an_unbounded_wildcard(pattern: str, count: int) -> None:
    assert unbounded_wildcards(pattern) == count
