"""Settings, read in one place: the ``DJANGO_EVENTS`` dict, with defaults.

The parsed value is cached and refreshed when Django's ``setting_changed`` fires
(``override_settings``; ``reset`` is connected in ``AppConfig.ready()``), and dispatchers
that keep what they derived from it are told through ``on_reset``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["MODES", "EventSettings", "Mode", "Problem", "current", "problems"]

Mode = Literal["gevent", "sync"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)

SETTING_NAME: Final = "DJANGO_EVENTS"

#: The modules of every installed app that are imported at start-up to register handlers.
DEFAULT_AUTODISCOVER: Final = ("events", "handlers", "listeners", "observers")


@dataclass(frozen=True)
class EventSettings:
    """The parsed ``DJANGO_EVENTS`` setting."""

    mode: Mode = "gevent"
    raise_handler_errors: bool = False
    autodiscover: tuple[str, ...] = DEFAULT_AUTODISCOVER


KNOWN_KEYS: Final = frozenset({"AUTODISCOVER", "MODE", "RAISE_HANDLER_ERRORS"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the setting; ``id`` is the system check id."""

    id: str
    msg: str
    hint: str


def problems(raw: object) -> list[Problem]:
    """Everything wrong with a raw ``DJANGO_EVENTS`` value (empty when it is valid)."""
    if not isinstance(raw, Mapping):
        return [
            Problem(
                "django_events.E001",
                f"{SETTING_NAME} must be a dict, got {raw!r} ({type(raw).__name__}).",
                f'Use a dict such as {SETTING_NAME} = {{"MODE": "sync"}}.',
            )
        ]
    found: list[Problem] = []
    for key in raw:
        if key not in KNOWN_KEYS:
            found.append(
                Problem(
                    "django_events.E002",
                    f"{SETTING_NAME} has an unknown key {key!r}.",
                    f"Known keys: {', '.join(sorted(KNOWN_KEYS))}.",
                )
            )
    mode = raw.get("MODE", "gevent")
    if mode not in MODES:
        found.append(
            Problem(
                "django_events.E003",
                f"{SETTING_NAME}['MODE'] is {mode!r}; expected one of {', '.join(map(repr, MODES))}.",
                '"gevent" queues events for a worker greenlet; "sync" runs handlers inline.',
            )
        )
    raise_errors = raw.get("RAISE_HANDLER_ERRORS", False)
    if not isinstance(raise_errors, bool):
        found.append(
            Problem(
                "django_events.E004",
                f"{SETTING_NAME}['RAISE_HANDLER_ERRORS'] is {raise_errors!r}; expected True or False.",
                "True re-raises a handler's exception after the event's other handlers ran.",
            )
        )
    autodiscover = raw.get("AUTODISCOVER", True)
    if _autodiscover_modules(autodiscover) is None:
        found.append(
            Problem(
                "django_events.E005",
                f"{SETTING_NAME}['AUTODISCOVER'] is {autodiscover!r}; expected True, False "
                "or a list of module names.",
                f"True imports each app's {', '.join(DEFAULT_AUTODISCOVER)} modules when they exist.",
            )
        )
    return found


def autodiscover_modules(raw: object) -> tuple[str, ...]:
    """The modules AUTODISCOVER asks for, read leniently: () when the setting is invalid."""
    value = raw.get("AUTODISCOVER", True) if isinstance(raw, Mapping) else True
    return _autodiscover_modules(value) or ()


def _autodiscover_modules(value: object) -> tuple[str, ...] | None:
    """The module names AUTODISCOVER asks for, or None when the value is invalid."""
    if value is True:
        return DEFAULT_AUTODISCOVER
    if value is False:
        return ()
    if isinstance(value, (list, tuple)) and all(isinstance(m, str) and _is_module_name(m) for m in value):
        return tuple(value)
    return None


def _is_module_name(name: str) -> bool:
    """``receivers`` or a dotted submodule such as ``events.handlers``."""
    return all(part.isidentifier() for part in name.split("."))


def _parse(raw: object) -> EventSettings:
    found = problems(raw)
    if found:
        raise ImproperlyConfigured(" ".join(p.msg for p in found))
    values = cast("Mapping[str, Any]", raw)
    return EventSettings(
        mode=values.get("MODE", "gevent"),
        raise_handler_errors=values.get("RAISE_HANDLER_ERRORS", False),
        autodiscover=_autodiscover_modules(values.get("AUTODISCOVER", True)) or (),
    )


_cached: EventSettings | None = None
_reset_hooks: list[Callable[[], None]] = []


def on_reset(hook: Callable[[], None]) -> None:
    """Call ``hook()`` whenever the setting changes (``override_settings``)."""
    _reset_hooks.append(hook)


def valid() -> bool:
    """Whether ``current()`` is final until the setting changes: Django's settings are
    configured and ``DJANGO_EVENTS`` is valid."""
    return settings.configured and not problems(getattr(settings, SETTING_NAME, {}))


def current() -> EventSettings:
    """The settings in force; defaults while Django settings are not configured."""
    global _cached
    if _cached is not None:
        return _cached
    if not settings.configured:
        return EventSettings()
    _cached = _parse(getattr(settings, SETTING_NAME, {}))
    return _cached


def reset(*, setting: str, **kwargs: object) -> None:
    """Receiver of Django's ``setting_changed`` (connected in ``AppConfig.ready()``)."""
    global _cached
    if setting == SETTING_NAME:
        _cached = None
        for hook in _reset_hooks:
            hook()
