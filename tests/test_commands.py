from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import models

from django_events import Created, Event, EventDispatcher, EventListener, dispatcher, on


class Paid(Event):
    amount: int


def queued_mail(name: str) -> None:
    """Queued handlers live at module level: a worker finds them by dotted path."""


def queued_index(name: str) -> None: ...


@pytest.fixture
def registry() -> None:
    """A known registry on top of what the project registered at start-up."""

    @on(Paid)
    def receipt(event: Paid) -> None: ...

    @on("shop::.*", after_commit=True)
    def audit(name: str) -> None: ...

    @on("shop::other", after_commit=True, using="other")
    def other_db(name: str) -> None: ...

    on("shop::order::.*", queue="mail", priority=5, retries=2, after_commit=True)(queued_mail)
    on("shop::order::.*", queue=True)(queued_index)

    class Listener(EventListener):
        listensFor = ["shop::order::.*"]

        def handle(self, event: object, *args: object, **kwargs: object) -> None: ...


def run(*args: str) -> str:
    out = StringIO()
    call_command("events", *args, stdout=out)
    return out.getvalue()


@pytest.mark.usefixtures("registry")
def test_match_lists_the_handlers_in_order() -> None:
    assert run("--match", "shop::order::paid") == (
        "shop::order::paid: 4 handler(s), run in this order\n"
        "  1. tests.test_commands.registry.<locals>.Listener.handle  [immediate]"
        " via pattern 'shop::order::.*'\n"
        "  2. tests.test_commands.registry.<locals>.audit  [after commit]"
        " via pattern 'shop::.*'\n"
        "  3. tests.test_commands.queued_mail  [queued on 'mail', priority 5, 2 retries, after commit]"
        " via pattern 'shop::order::.*'\n"
        "  4. tests.test_commands.queued_index  [queued on 'default']"
        " via pattern 'shop::order::.*'\n"
    )


@pytest.mark.usefixtures("registry")
def test_match_an_event_class_name() -> None:
    assert run("--match", Paid.event_name) == (
        "tests::test_commands::Paid: 1 handler(s), run in this order\n"
        "  1. tests.test_commands.registry.<locals>.receipt  [immediate] via tests.test_commands.Paid\n"
    )


def test_match_nothing() -> None:
    assert run("--match", "nothing::here") == "nothing::here: no handler\n"


@pytest.mark.usefixtures("registry")
def test_list_groups_by_target() -> None:
    lines = run().splitlines()
    assert lines[0].startswith("mode: gevent; ")
    assert "tests.test_commands.Paid (Event class)" in lines
    at = lines.index("shop::.*")
    assert lines[at + 1] == "  tests.test_commands.registry.<locals>.audit  [after commit]"
    assert "  tests.test_commands.registry.<locals>.other_db  [after commit on 'other']" in lines
    assert "events::db::tests::myapp::models::Example::created" in lines  # the seed app's observer


@pytest.mark.usefixtures("registry")
def test_json() -> None:
    document = json.loads(run("--match", "shop::order::paid", "--json"))
    assert document["name"] == "shop::order::paid"
    assert document["mode"] == "gevent"
    assert document["handlers"][1] == {
        "target": "shop::.*",
        "kind": "pattern",
        "event_class": None,
        "handler": "tests.test_commands.registry.<locals>.audit",
        "delivery": "after_commit",
        "using": None,
        "queue": None,
    }
    assert document["handlers"][2]["queue"] == {"queue_name": "mail", "priority": 5, "retries": 2}
    everything = json.loads(run("--json"))
    assert {"target": Paid.event_name, "kind": "event"}.items() <= everything["handlers"][-6].items()


def _same_name(app: str) -> type[models.Model]:
    """A model named SameName in ``app``'s models module (none is saved: no table)."""
    meta = type("Meta", (), {"app_label": app})
    return type("SameName", (models.Model,), {"__module__": f"tests.{app}.models", "Meta": meta})


def created_here(event: Created[Any]) -> None: ...


def created_there(event: Created[Any]) -> None: ...


def test_typed_model_events_of_two_apps_models_of_one_name_are_listed_apart() -> None:
    here, there = _same_name("testapp"), _same_name("myapp")
    with dispatcher.isolate():
        dispatcher.register(Created[here], created_here)  # type: ignore[valid-type]
        dispatcher.register(Created[there], created_there)  # type: ignore[valid-type]
        keys = {r.target_key for r in dispatcher.registrations if "SameName" in r.target_key}
        output = run()
    assert keys == {
        "event:tests.testapp.models:Created[SameName]",
        "event:tests.myapp.models:Created[SameName]",
    }
    assert (
        "tests.testapp.models.Created[SameName] (Event class)\n"
        "  tests.test_commands.created_here  [immediate]\n"
        "tests.myapp.models.Created[SameName] (Event class)\n"
        "  tests.test_commands.created_there  [immediate]\n"
    ) in output


#: Another dispatcher, for --dispatcher (a project's payments, say).
payments = EventDispatcher(mode="sync")


def refund_mail(name: str) -> None: ...


def test_dispatcher_lists_another_dispatchers_registrations() -> None:
    payments.register("payments::refund::.*", refund_mail)
    try:
        listed = run("--dispatcher", "tests.test_commands.payments")
        matched = run("--dispatcher", "tests.test_commands.payments", "--match", "payments::refund::done")
        document = json.loads(run("--dispatcher", "tests.test_commands.payments", "--json"))
    finally:
        payments.unregister("payments::refund::.*", refund_mail)
    assert listed.splitlines() == [
        "mode: sync; 1 registration(s)",
        "payments::refund::.*",
        "  tests.test_commands.refund_mail  [immediate]",
    ]
    assert matched.splitlines()[1] == (
        "  1. tests.test_commands.refund_mail  [immediate] via pattern 'payments::refund::.*'"
    )
    assert document["mode"] == "sync"
    assert [entry["handler"] for entry in document["handlers"]] == ["tests.test_commands.refund_mail"]
    assert "refund_mail" not in run()  # the default dispatcher's list does not have it


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "tests.test_commands.no_such_name",
            "--dispatcher 'tests.test_commands.no_such_name' cannot be imported (Module "
            '"tests.test_commands" does not define a "no_such_name" attribute/class); expected the '
            "dotted path of an EventDispatcher, such as 'shop.events.payments'",
        ),
        (
            "payments",
            "--dispatcher 'payments' cannot be imported (payments doesn't look like a module path); "
            "expected the dotted path of an EventDispatcher, such as 'shop.events.payments'",
        ),
        (
            "tests.test_commands.refund_mail",
            "--dispatcher 'tests.test_commands.refund_mail' is <function refund_mail at 0x... "
            "(function), not an EventDispatcher",
        ),
    ],
)
def test_dispatcher_that_is_not_one_is_a_command_error(path: str, message: str) -> None:
    with pytest.raises(CommandError) as raised:
        run("--dispatcher", path)
    assert re.sub(r"0x[0-9a-f]+>", "0x...", str(raised.value)) == message
