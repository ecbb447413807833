from __future__ import annotations

from django.core import checks
from django.test import override_settings

from django_events.checks import check_settings


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
    assert messages[0].hint == "Known keys: MODE, RAISE_HANDLER_ERRORS."


@override_settings(DJANGO_EVENTS="sync")
def test_not_a_dict() -> None:
    [message] = check_settings()
    assert message.id == "django_events.E001"
    assert "got 'sync' (str)" in message.msg
