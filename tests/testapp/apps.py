from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"

    def ready(self) -> None:
        if getattr(settings, "WORKER_DB", None):  # the task worker of tests/test_worker.py
            from . import queued

            queued.register()
