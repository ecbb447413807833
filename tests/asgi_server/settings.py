"""Settings of the ASGI test server: the test suite's, with this app, its URLs, and the mode
(``sync`` or ``gevent``) from ``DJANGO_EVENTS_ASGI_MODE``."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.asgi_server"]
ROOT_URLCONF = "tests.asgi_server.urls"
ALLOWED_HOSTS = ["127.0.0.1"]
DJANGO_EVENTS = {"MODE": os.environ.get("DJANGO_EVENTS_ASGI_MODE", "gevent")}
# A handler's failure is logged on the server's stderr, which the test reads.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_events": {"handlers": ["console"], "level": "INFO"}},
}
