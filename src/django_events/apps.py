from __future__ import annotations

import sys

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.signals import request_finished, request_started, setting_changed
from django.utils.module_loading import autodiscover_modules

from . import conf


class DjangoEventsConfig(AppConfig):
    name = "django_events"
    verbose_name = "Events"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from ._dispatcher import drain_at_request_end, settle_all
        from ._models import connect_known_proxies
        from .delivery.gevent import exit_on_sigterm, register_process_hooks, request_started_in_a_loop

        setting_changed.connect(conf.reset, dispatch_uid="django_events.conf.reset")
        request_finished.connect(drain_at_request_end, dispatch_uid="django_events.drain_at_request_end")
        request_started.connect(request_started_in_a_loop, dispatch_uid="django_events.request_started")
        register_process_hooks()
        exit_on_sigterm()  # a SIGTERM with the default action would skip the exit drain
        settle_all()  # the settings are configured now: every dispatcher chooses its mode
        autodiscover()
        connect_known_proxies()


def autodiscover() -> list[str]:
    """Import each installed app's handler modules (``AUTODISCOVER``); return their names.

    A module that does not exist is skipped; one that exists but fails to import raises.
    A bad setting imports nothing here: the system checks report it (E001, E005).
    """
    modules = conf.autodiscover_modules(getattr(settings, conf.SETTING_NAME, {}))
    autodiscover_modules(*modules)
    return [
        f"{config.name}.{module}"
        for config in apps.get_app_configs()
        for module in modules
        if f"{config.name}.{module}" in sys.modules
    ]
