"""The test project on PostgreSQL: ``make pytest`` runs the model-event, after-commit and
worker tests again with these settings (``--ds tests.settings_postgres``).

.ci/services installs and starts the server (Debian's package) and creates the login role;
the ``DJANGO_EVENTS_PG_*`` variables point the tests at another server. The test database
is named after this process, so that two test runs on one server do not meet, and the
worker subprocesses of tests/test_worker.py get its name in ``DJANGO_EVENTS_WORKER_DB``.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, WORKER_DB

DATABASES = {
    **DATABASES,
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DJANGO_EVENTS_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJANGO_EVENTS_PG_PORT", "5432"),
        "USER": os.environ.get("DJANGO_EVENTS_PG_USER", "django_events"),
        "PASSWORD": os.environ.get("DJANGO_EVENTS_PG_PASSWORD", "django_events"),
        "NAME": WORKER_DB or "postgres",
        "TEST": {"NAME": f"test_django_events_{os.getpid()}"},
        # A commit does not wait for its WAL flush: the same visibility and locking, a
        # fraction of the time on CI's disk (durability across a crash is not tested here).
        "OPTIONS": {"options": "-c synchronous_commit=off"},
        # db_worker closes an expired connection at each poll: with the default 0, every poll
        # and task opened a new one, password handshake included (4 workers: 53 s for 2,000 tasks).
        "CONN_MAX_AGE": 60,
    },
}
