"""``django_events.events.utils``: the import path of the original's ``events.events.utils``
(``from events.events.utils import *``)."""

from __future__ import annotations

from typing import Final

from .._legacy import Dispatcher, GetPathFromClass, RegisterSignalsFor, SignalToEvent, dispatch
from .._models import ACTIONS

__all__ = ["Dispatcher", "GetPathFromClass", "RegisterSignalsFor", "SignalToEvent", "dispatch", "events"]

#: The model actions, in order (``RegisterSignalsFor`` returns a name for each).
events: Final = list(ACTIONS)
