from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.signals import request_finished, request_started, setting_changed
from django.utils.module_loading import module_has_submodule

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
    for config in apps.get_app_configs():  # (Django's autodiscover_modules, for dotted names too)
        for module in modules:
            try:
                import_module(f"{config.name}.{module}")
            except Exception:
                if _exists(config.module, module):
                    raise
    return [
        f"{config.name}.{module}"
        for config in apps.get_app_configs()
        for module in modules
        if f"{config.name}.{module}" in sys.modules
    ]


def _exists(package: ModuleType | None, name: str) -> bool:
    """Whether ``package`` has the (dotted) submodule ``name``. Django's
    ``module_has_submodule`` looks for ``events.handlers`` by importing ``events``: an
    ``events`` that exists but fails with a ModuleNotFoundError (a dependency that is not
    installed) would read as no module, and the app's handlers be skipped in silence."""
    head, _, rest = name.partition(".")
    if package is None or not module_has_submodule(package, head):
        return False
    if not rest:
        return True
    try:
        parent = import_module(f"{package.__name__}.{head}")
    except Exception:
        return True  # it exists, and fails to import
    return _exists(parent, rest)
