from __future__ import annotations

import sys

import pytest
from django.test import override_settings

from django_events.apps import autodiscover


def test_events_modules_of_installed_apps_are_imported_at_startup() -> None:
    from tests.myapp import events

    assert events.IMPORTED
    assert "tests.myapp.events" in sys.modules


def test_autodiscover_imports_the_configured_modules() -> None:
    assert "tests.myapp.events" in autodiscover()
    assert "tests.myapp.observers" in autodiscover()


@override_settings(DJANGO_EVENTS={"AUTODISCOVER": False})
def test_autodiscover_can_be_turned_off() -> None:
    assert autodiscover() == []


@override_settings(DJANGO_EVENTS={"AUTODISCOVER": ["models"]})
def test_autodiscover_takes_module_names() -> None:
    assert "tests.testapp.models" in autodiscover()
    assert "tests.myapp.events" not in autodiscover()


@override_settings(DJANGO_EVENTS={"AUTODISCOVER": "yes"})
def test_a_bad_setting_imports_nothing_and_leaves_it_to_the_checks() -> None:
    assert autodiscover() == []  # and django.setup() goes on, so `manage.py check` can report E005


@override_settings(DJANGO_EVENTS=["not", "a", "dict"])
def test_a_setting_that_is_not_a_dict_autodiscovers_the_default_modules() -> None:
    assert "tests.myapp.events" in autodiscover()  # E001 reports the setting itself


@override_settings(DJANGO_EVENTS={"AUTODISCOVER": ["no_such_module"]})
def test_missing_modules_are_skipped() -> None:
    assert autodiscover() == []


@override_settings(DJANGO_EVENTS={"AUTODISCOVER": ["broken_handlers"]})
def test_a_module_that_fails_to_import_raises() -> None:
    with pytest.raises(ImportError, match="broken on purpose"):
        autodiscover()
