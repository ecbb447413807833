"""System checks, run by ``manage.py check`` (and runserver, migrate, test)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from . import conf
from ._bulk import BULK_ACTIONS, bulk_event_name, opted_in
from ._events import path_from_class
from ._live import live_registrations
from ._models import ACTIONS, QUEUEABLE_ACTIONS, model_event_name, observer_app_problems

if sys.version_info >= (3, 11):
    from re import _constants as sre_constants
    from re import _parser as sre_parse
else:  # pragma: no cover - Python 3.10
    import sre_constants
    import sre_parse

__all__ = [
    "check_after_commit_aliases",
    "check_bulk_events",
    "check_costly_patterns",
    "check_observers",
    "check_proxy_patterns",
    "check_queued_handlers",
    "check_queued_model_events",
    "check_settings",
]


@register()
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """One error per problem in ``DJANGO_EVENTS`` (ids ``django_events.E001`` to ``E005``)."""
    raw = getattr(settings, conf.SETTING_NAME, {})
    return [Error(p.msg, hint=p.hint, id=p.id) for p in conf.problems(raw)]


@register()
def check_observers(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """``django_events.E006``: an observer of a model whose app is not installed."""
    return [
        Error(
            f"{observer.__module__}.{observer.__qualname__} observes {model._meta.label}, "
            f"but the app {model._meta.app_label!r} is not in INSTALLED_APPS.",
            hint="Add the model's app to INSTALLED_APPS, or remove the observer.",
            obj=observer,
            id="django_events.E006",
        )
        for observer, model in observer_app_problems(list(apps.get_app_configs()))
    ]


@register()
def check_after_commit_aliases(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``django_events.E007``: an after_commit handler waits on a database alias that does not exist."""
    return [
        Error(
            f"handler {registration.label} waits for commits on database {registration.using!r}, "
            "which is not in DATABASES.",
            hint=f"Use one of {', '.join(map(repr, settings.DATABASES))} in using=...",
            id="django_events.E007",
        )
        for registration in live_registrations()
        if registration.using is not None and registration.using not in settings.DATABASES
    ]


@register()
def check_queued_handlers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``django_events.E008``: the task backend would refuse a queued handler's queue or priority."""
    queued = dict.fromkeys(
        (registration.label, registration.queue)
        for registration in live_registrations()
        if registration.queue is not None
    )
    messages: list[CheckMessage] = []
    for label, options in queued:
        try:  # only with queued handlers: the framework is optional
            from .tasks import placement_problem
        except Exception as exc:  # the framework is missing, or TASKS names no usable backend
            return [
                Error(
                    f"queued handlers ({label} and any others) cannot be enqueued: "
                    f"{type(exc).__name__}: {exc}",
                    hint="Install Django's task framework (django-tasks before Django 6.0) and "
                    "configure TASKS['default'].",
                    id="django_events.E008",
                )
            ]
        problem = placement_problem(options)
        if problem is not None:
            messages.append(
                Error(
                    f"queued handler {label} (queue={options.queue_name!r}, priority={options.priority!r}) "
                    f"would be refused by the task backend: {problem}",
                    hint="List the queue in TASKS[...]['QUEUES'], or use a backend that supports "
                    "priorities, or change the handler's queue= / priority=.",
                    id="django_events.E008",
                )
            )
    return messages


@register()
def check_queued_model_events(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``django_events.E009``: a queued handler's pattern matches a model event whose instance a
    worker cannot load (creating, updating, deleting, deleted)."""
    patterns = [
        registration
        for registration in live_registrations()
        if registration.queue is not None and isinstance(registration.target, str)
    ]
    names = [
        model_event_name(model, action)
        for model in apps.get_models()
        for action in ACTIONS
        if action not in QUEUEABLE_ACTIONS
    ]
    messages: list[CheckMessage] = []
    for registration in patterns:
        name = next((name for name in names if registration.matches(name)), None)
        if name is not None:
            messages.append(
                Error(
                    f"queued handler {registration.label} (pattern {registration.target!r}) matches "
                    f"{name!r}: a worker loads a model event's instance again by primary key, so "
                    "only created and updated model events can be queued.",
                    hint="Narrow the pattern to ::(created|updated), or handle the other model "
                    "events in a handler without queue=.",
                    id="django_events.E009",
                )
            )
    return messages


@register()
def check_bulk_events(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """``django_events.W002``: a handler of a model's bulk events (typed, or a pattern that
    matches a bulk event's name and not the model's row events), for a model whose managers
    do not make BulkEventsQuerySets (so nothing ever dispatches them)."""
    registrations = list(live_registrations())
    found: list[CheckMessage] = []
    models = apps.get_models()
    for model in models:
        names = [bulk_event_name(model, action) for action in BULK_ACTIONS]
        row_event = model_event_name(model, "created")
        # Handlers of bulk events: they match one, and not the model's row events too (a
        # catch-all such as ".*" is no bulk handler).
        handlers = [
            registration
            for registration in registrations
            if any(registration.matches(name) for name in names) and not registration.matches(row_event)
        ]
        # (managers are asked only then) A proxy's bulk calls emit its concrete model's
        # events: the model opts in through any model of its concrete model's.
        concrete = model._meta.concrete_model
        if handlers and not any(opted_in(m) for m in models if m._meta.concrete_model is concrete):
            for registration in handlers:
                found.append(
                    Warning(
                        f"handler {registration.label} listens to bulk events of {model._meta.label}, "
                        "whose bulk operations dispatch none: its managers make no BulkEventsQuerySet.",
                        hint=f"Give {model.__qualname__} objects = BulkEventsManager() (from django_events), "
                        "or mix BulkEventsQuerySet into its QuerySet.",
                        obj=model,
                        id="django_events.W002",
                    )
                )
    return found


@register()
def check_proxy_patterns(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """``django_events.W003``: a pattern that names a proxy model's events and none of its
    concrete model's: a proxy's saves and bulk calls dispatch the concrete model's events,
    so the pattern never matches one."""
    patterns = [r for r in live_registrations() if isinstance(r.target, str)]
    found: list[CheckMessage] = []
    for model in apps.get_models():
        concrete = model._meta.concrete_model
        if not patterns or not model._meta.proxy or concrete is None:
            continue
        actions = (*ACTIONS, *BULK_ACTIONS)
        names = [f"events::db::{path_from_class(model)}::{action}" for action in actions]
        real = [f"events::db::{path_from_class(concrete)}::{action}" for action in actions]
        for registration in patterns:
            if any(map(registration.matches, names)) and not any(map(registration.matches, real)):
                found.append(
                    Warning(
                        f"handler {registration.label} listens to {registration.target!r}, which names "
                        f"events of the proxy {model._meta.label}: a proxy's saves and bulk calls "
                        f"dispatch the events of its concrete model {concrete._meta.label}, so it "
                        "never matches one.",
                        hint=f"Name the concrete model instead, as in {real[1]!r}: the handler then "
                        f"gets the {model.__qualname__} instance when a {model.__qualname__} is saved.",
                        obj=model,
                        id="django_events.W003",
                    )
                )
    return found


@register()
def check_costly_patterns(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``django_events.W001``: a pattern with two or more unbounded wildcards (``.*``, ``.+``),
    whose matching cost grows with the square of the name's length."""
    patterns = dict.fromkeys(
        (registration.target, registration.label)
        for registration in live_registrations()
        if isinstance(registration.target, str)
    )
    return [
        Warning(
            f"handler {label} listens to {pattern!r}, which has {count} unbounded wildcards: "
            "matching a long event name against it costs time in the square of the name's length "
            "(about 0.7 s for a 30,000-character name), and event names can come from users.",
            hint="Match one part of a name with [^:]* instead of .* (events::[^:]*::[^:]*::updated).",
            id="django_events.W001",
        )
        for pattern, label in patterns
        if (count := unbounded_wildcards(pattern)) >= 2
    ]


_REPEATS = {
    sre_constants.MAX_REPEAT,
    sre_constants.MIN_REPEAT,
    getattr(sre_constants, "POSSESSIVE_REPEAT", None),
}


def _takes_a_separator(body: Any) -> bool:
    """Whether ``body``, one character wide, can match ``:``, the separator of name parts
    (``.``, ``[\\s\\S]``, ``[^/]``, ``(.)``): repeated without bound, it runs over parts."""
    items = list(body)
    if len(items) != 1:
        return False
    op, value = items[0]
    if op == sre_constants.ANY or (op == sre_constants.LITERAL and value == _COLON):
        return True
    if op == sre_constants.NOT_LITERAL:  # [^/]
        return bool(value != _COLON)
    if op == sre_constants.IN:
        return _class_has_colon(value)
    if op == sre_constants.SUBPATTERN:
        return _takes_a_separator(value[-1])
    if op == sre_constants.BRANCH:
        return any(_takes_a_separator(branch) for branch in value[1])
    return False


_COLON = ord(":")
#: The categories of a character class that hold ``:``.
_WITH_COLON = {"CATEGORY_NOT_DIGIT", "CATEGORY_NOT_SPACE", "CATEGORY_NOT_WORD", "CATEGORY_NOT_LINEBREAK"}


def _class_has_colon(items: Any) -> bool:
    found, negated = False, False
    for op, value in items:
        if op == sre_constants.NEGATE:
            negated = True
        elif op == sre_constants.LITERAL:
            found = found or value == _COLON
        elif op == sre_constants.RANGE:
            found = found or value[0] <= _COLON <= value[1]
        else:  # CATEGORY (\d, \S, ...)
            found = found or str(value) in _WITH_COLON
    return found != negated


def unbounded_wildcards(pattern: str) -> int:
    """How many ``.*`` / ``.+`` (any character, repeated without bound) a pattern has on
    one path through it."""
    return _wildcards(sre_parse.parse(pattern))


def _wildcards(items: Any) -> int:
    count = 0
    for op, value in items:
        if op in _REPEATS:
            _low, high, body = value
            inner = _wildcards(body)
            if high == sre_constants.MAXREPEAT and (inner or _takes_a_separator(body)):
                # ".*", "[\s\S]*", "(.)*"; or a wildcard inside an unbounded repeat,
                # "(?:.*::)+": as many as the name has parts.
                count += 2 if inner else 1
            else:
                count += inner
        elif op == sre_constants.SUBPATTERN:
            count += _wildcards(value[-1])
        elif op == sre_constants.BRANCH:
            count += max(_wildcards(branch) for branch in value[1])
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            count += _wildcards(value[1])
    return count
