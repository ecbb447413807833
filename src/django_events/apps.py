from __future__ import annotations

from django.apps import AppConfig


class DjangoEventsConfig(AppConfig):
    name = "django_events"
    verbose_name = "Events"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
