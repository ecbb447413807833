from __future__ import annotations

from typing import Any

import pytest
from django.conf import LazySettings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_events import conf


def test_defaults() -> None:
    with override_settings():
        from django.conf import settings

        del settings.DJANGO_EVENTS
        assert conf.current() == conf.EventSettings(mode="gevent", raise_handler_errors=False)


def test_reads_the_setting_and_follows_changes() -> None:
    assert conf.current().mode == "gevent"
    with override_settings(DJANGO_EVENTS={"MODE": "sync", "RAISE_HANDLER_ERRORS": True}):
        assert conf.current() == conf.EventSettings(mode="sync", raise_handler_errors=True)
    assert conf.current().mode == "gevent"


def test_other_setting_changes_keep_the_cache() -> None:
    before = conf.current()
    with override_settings(DEBUG=True):
        assert conf.current() is before


def test_unconfigured_django_gets_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conf, "settings", LazySettings())
    monkeypatch.setattr(conf, "_cached", None)
    assert conf.current() == conf.EventSettings()
    assert conf._cached is None  # read again once Django is configured


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"MODE": "async"}, "DJANGO_EVENTS['MODE'] is 'async'; expected one of 'gevent', 'sync'."),
        ({"MODES": "sync"}, "DJANGO_EVENTS has an unknown key 'MODES'."),
        (
            {"RAISE_HANDLER_ERRORS": 1},
            "DJANGO_EVENTS['RAISE_HANDLER_ERRORS'] is 1; expected True or False.",
        ),
        (["MODE"], "DJANGO_EVENTS must be a dict, got ['MODE'] (list)."),
    ],
)
def test_bad_settings_raise_when_read(raw: Any, message: str) -> None:
    with override_settings(DJANGO_EVENTS=raw), pytest.raises(ImproperlyConfigured) as info:
        conf.current()
    assert str(info.value) == message


def test_problems_lists_every_problem() -> None:
    found = conf.problems({"MODE": "x", "OTHER": 1, "RAISE_HANDLER_ERRORS": "no"})
    assert [p.id for p in found] == [
        "django_events.E002",
        "django_events.E003",
        "django_events.E004",
    ]
    assert conf.problems({}) == []
