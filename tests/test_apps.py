from __future__ import annotations

import sys

import pytest
from django.test import override_settings

from django_events.apps import autodiscover
from django_events.conf import problems


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


@override_settings(DJANGO_EVENTS={"AUTODISCOVER": ["observers.example", "events.no_such_module"]})
def test_autodiscover_takes_dotted_submodule_names() -> None:
    """A submodule in a package is found; an app whose module is no package is skipped."""
    assert autodiscover() == ["tests.myapp.observers.example"]


@pytest.mark.parametrize("value", [["events."], ["events..handlers"], [".events"], ["events.2nd"]])
def test_a_module_name_with_an_empty_or_bad_part_is_refused(value: list[str]) -> None:
    with override_settings(DJANGO_EVENTS={"AUTODISCOVER": value}):
        assert autodiscover() == []
    [problem] = problems({"AUTODISCOVER": value})
    assert f"is {value!r}; expected True, False or a list of module names" in problem.msg


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
