"""The test suite's settings with this app, its URLs, a SQLite file shared by every request,
and ``RAISE_HANDLER_ERRORS`` from ``DJANGO_EVENTS_GSERVER_RAISE``."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.gevent_server"]
ROOT_URLCONF = "tests.gevent_server.urls"
ALLOWED_HOSTS = ["127.0.0.1"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJANGO_EVENTS_GSERVER_DB"],
        "OPTIONS": {"timeout": 30},
    },
}
DJANGO_EVENTS = {
    "MODE": "gevent",
    "RAISE_HANDLER_ERRORS": os.environ.get("DJANGO_EVENTS_GSERVER_RAISE") == "1",  # type: ignore[dict-item]
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_events": {"handlers": ["console"], "level": "INFO"}},
}
