from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig, apps
from django.conf import settings
from django.utils.module_loading import module_has_submodule

from . import conf


class DjangoEventsConfig(AppConfig):
    name = "django_events"
    verbose_name = "Events"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from ._models import connect_known_proxies

        autodiscover()
        connect_known_proxies()


def autodiscover() -> list[str]:
    """Import each installed app's handler modules (``AUTODISCOVER``); return their names.

    A module that does not exist is skipped; one that exists but fails to import raises.
    A bad setting imports nothing here: the system checks report it (E001, E005).
    """
    modules = conf.autodiscover_modules(getattr(settings, conf.SETTING_NAME, {}))
    imported = []
    for config in apps.get_app_configs():
        for module in modules:
            if module_has_submodule(config.module, module):
                imported.append(import_module(f"{config.name}.{module}").__name__)
    return imported
