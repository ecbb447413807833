"""Autodiscovered at start-up (``events`` is in the default AUTODISCOVER list)."""

from __future__ import annotations

from django_events import RegisterSignalsFor
from tests.myapp.models import Unobserved

RegisterSignalsFor(Unobserved)

#: Set on import: tests check that autodiscovery imported this module.
IMPORTED = True
