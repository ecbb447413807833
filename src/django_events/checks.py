"""System checks: the ``DJANGO_EVENTS`` setting is validated by ``manage.py check``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from . import conf

__all__ = ["check_settings"]


@register()
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """One error per problem in ``DJANGO_EVENTS`` (ids ``django_events.E001`` to ``E004``)."""
    raw = getattr(settings, conf.SETTING_NAME, {})
    return [Error(p.msg, hint=p.hint, id=p.id) for p in conf.problems(raw)]
