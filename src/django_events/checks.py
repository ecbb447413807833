"""System checks, run by ``manage.py check`` (and runserver, migrate, test)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from . import conf
from ._dispatcher import live_dispatchers
from ._models import observer_app_problems

__all__ = ["check_after_commit_aliases", "check_observers", "check_queued_handlers", "check_settings"]


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
        for live in live_dispatchers()
        for registration in live.registrations
        if registration.using is not None and registration.using not in settings.DATABASES
    ]


@register()
def check_queued_handlers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``django_events.E008``: the task backend would refuse a queued handler's queue or priority."""
    queued = dict.fromkeys(
        (registration.label, registration.queue)
        for live in live_dispatchers()
        for registration in live.registrations
        if registration.queue is not None
    )
    messages: list[CheckMessage] = []
    for label, options in queued:
        from .tasks import placement_problem  # only with queued handlers: the framework is optional

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
