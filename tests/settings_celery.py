"""The test project with its queued handlers on Celery: README.md's "Set-up with Celery".

tests/test_celery.py checks that these settings are the README's, starts a redis-server of
its own and passes its URL in ``DJANGO_EVENTS_REDIS_URL``.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, TASKS_APP

_apps = [app for app in INSTALLED_APPS if app != TASKS_APP]  # no database backend
INSTALLED_APPS = [
    *_apps[: _apps.index("django_events")],
    "django_tasks_fennel",
    *_apps[_apps.index("django_events") :],
]
TASKS = {"default": {"BACKEND": "django_tasks_fennel.CeleryBackend", "QUEUES": ["default", "mail"]}}
CELERY_BROKER_URL = os.environ.get("DJANGO_EVENTS_REDIS_URL", "redis://localhost:6379/0")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_RESULT_EXTENDED = True
