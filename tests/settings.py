"""Settings of the test project: a real Django project on SQLite.

The default database is a file, so that a real task worker (``manage.py db_worker``,
started by tests/test_worker.py) can share it: the worker gets the test database's path
in ``DJANGO_EVENTS_WORKER_DB``.
"""

from __future__ import annotations

import os
import tempfile
from importlib.util import find_spec

# A task worker of tests/test_worker.py may run with another key (key rotation).
SECRET_KEY = os.environ.get("DJANGO_EVENTS_SECRET_KEY", "django_events-tests")
SECRET_KEY_FALLBACKS = os.environ.get("DJANGO_EVENTS_SECRET_KEY_FALLBACKS", "").split()
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]

#: The database backend of Django's task framework: django-tasks-db, or (django-tasks
#: before 0.12, for Django 4.2) the backend inside django-tasks.
TASKS_APP = "django_tasks_db" if find_spec("django_tasks_db") else "django_tasks.backends.database"
TASKS_BACKEND = f"{TASKS_APP}.DatabaseBackend"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    *([] if find_spec("django.tasks") else ["django_tasks"]),
    TASKS_APP,
    "django_events",
    "tests.testapp",
    "tests.myapp",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tests.urls"

WORKER_DB = os.environ.get("DJANGO_EVENTS_WORKER_DB")
TEST_DB = os.path.join(tempfile.gettempdir(), f"django-events-tests-{os.getpid()}.sqlite3")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": WORKER_DB or TEST_DB,
        "TEST": {"NAME": TEST_DB},
        "OPTIONS": {"timeout": 30},  # the worker and the tests write the same file
    },
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
DJANGO_EVENTS = {"MODE": "gevent"}
TASKS = {"default": {"BACKEND": TASKS_BACKEND, "QUEUES": ["default", "mail"]}}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_events": {"handlers": ["console"], "level": "INFO"}} if WORKER_DB else {},
}
