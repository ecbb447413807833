"""README.md as a newcomer reads it: the Errors table's messages, Order with a task backend
that runs tasks at once, the legacy events' repr."""

from __future__ import annotations

import asyncio
import re
from importlib.util import find_spec
from pathlib import Path

import pytest
from django.test import override_settings

from django_events import Event, EventDispatcher, dispatcher, on
from tests import test_errors
from tests.test_errors import CASES, Case

queued_before = test_errors.queued_before  # the fixture: events queued before each bad call

README = Path(__file__).resolve().parent.parent / "README.md"


#: Names the test cases use where README's rows name a project's (``shop``) own.
NAMES_IN_THE_TESTS = [
    ("tests.test_errors.queued_audit", "shop.handlers.audit"),
    ("function queued_audit at", "function audit at"),
    ("tests.test_errors.Address", "shop.events.Address"),
    ("tests::testapp::models::Item", "shop::models::Item"),
]


def _errors_table() -> dict[str, str]:
    """README's Errors table: the ``call`` cell -> the ``error`` cell, without backticks."""
    section = README.read_text(encoding="utf-8").split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table = {}
    for row in rows:
        cells = [*re.findall(r"`([^`]*)`", row.split(" | ")[0]), row.rsplit(" | ", 1)[1].rstrip(" |")]
        table[cells[0]] = cells[-1]
    return table


def _printed(error_cell: str) -> list[str]:
    """The messages an ``error`` cell prints: each backticked part (a setting's row has two)."""
    return re.findall(r"`([^`]*)`", error_cell)


def _pattern(printed: str) -> str:
    """A printed message as a regex: ``...`` stands for any text, ``0x...`` for an address."""
    return ".*".join(re.escape(part) for part in printed.split("..."))


@pytest.mark.parametrize("case", CASES, ids=[case.call for case in CASES])
def test_the_errors_table_prints_the_real_message(case: Case, queued_before: EventDispatcher) -> None:
    """Each row's error reads as printed (its ``...`` aside), type name included."""
    printed = _printed(_errors_table()[case.call])
    with override_settings(**case.settings), pytest.raises(case.error) as raised:
        case.run(queued_before)
    actual = f"{type(raised.value).__name__}: {raised.value}"
    for test_name, readme_name in NAMES_IN_THE_TESTS:
        actual = actual.replace(test_name, readme_name)
    message = printed[-1].removeprefix("at first use ")
    assert re.fullmatch(_pattern(message), actual, re.DOTALL), (message, actual)


# -- Order: immediate handlers before queued ones, also when the task backend runs at once

RAN: list[str] = []


def queued_audit(name: str) -> None:
    RAN.append("queued")


def queued_after_commit(name: str) -> None:
    RAN.append("queued after commit")


def immediate_audit(name: str) -> None:
    RAN.append("immediate")


TASKS_PACKAGE = "django.tasks" if find_spec("django.tasks") else "django_tasks"
IMMEDIATE_TASKS = {
    "default": {
        "BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend",
        "QUEUES": ["default"],
    }
}


@pytest.mark.parametrize("how", ["dispatch", "adispatch"])
def test_immediate_handlers_run_before_queued_ones_with_the_immediate_backend(how: str) -> None:
    """README, Order and ``resolve()``: "in the order they run: immediate, then after-commit,
    then queued". With the task framework's ImmediateBackend (which runs a task when it is
    enqueued: the usual backend of development and tests) the queued handlers ran first,
    before the immediate handlers, and a queued after-commit one outside a transaction too."""
    RAN.clear()
    with dispatcher.isolate(), override_settings(TASKS=IMMEDIATE_TASKS, DJANGO_EVENTS={"MODE": "sync"}):
        on("readme.user.order", queue=True)(queued_audit)
        on("readme.user.order", queue=True, after_commit=True)(queued_after_commit)
        on("readme.user.order")(immediate_audit)
        assert [r.handler for r in dispatcher.resolve("readme.user.order")] == [
            immediate_audit,
            queued_audit,
            queued_after_commit,
        ]
        if how == "dispatch":
            dispatcher.dispatch("readme.user.order")
        else:
            asyncio.run(dispatcher.adispatch("readme.user.order"))
        dispatcher.clear_queue()
    assert RAN == ["immediate", "queued", "queued after commit"]


# -- The legacy API: "repr(event) shows the fields"


class ExampleEvent(Event):
    Name = "ExampleEvent"

    def __init__(self, name: str, value: str, something: str) -> None:
        self.name, self.value, self.something = name, value, something


def test_repr_of_a_legacy_event_shows_its_fields() -> None:
    """README, The legacy API: for the snippet's ``ExampleEvent`` (its own ``__init__``),
    "``repr(event)`` shows the fields"; it was ``<...ExampleEvent object at 0x...>``."""
    event = ExampleEvent("name", "value", "something")
    assert repr(event) == "ExampleEvent(name='name', value='value', something='something')"
    assert str(event) == "ExampleEvent"
