"""A small real Django project on SQLite that uses django_events."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "demo-only"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    # Queued handlers run on Django's task framework: django.tasks on Django 6.0+, the
    # django-tasks backport before that; django_tasks_db is its database backend.
    *([] if find_spec("django.tasks") else ["django_tasks"]),
    "django_tasks_db",
    "django_events",
    "shop",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 20},  # the demo and its task worker share the file
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# Tasks wait in the database until `manage.py db_worker` runs them (the demo starts one).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "mail"]}}

# The default; "sync" runs handlers before dispatch() returns.
DJANGO_EVENTS = {"MODE": "gevent"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"short": {"format": "  [%(name)s %(levelname)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "short"}},
    "loggers": {"django_events": {"handlers": ["console"], "level": "ERROR", "propagate": False}},
}
