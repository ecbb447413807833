from __future__ import annotations

from django.apps import AppConfig


class GeventServerConfig(AppConfig):
    name = "tests.gevent_server"
    label = "gevent_server"
