# django-event-system 1.0.1 ships no types: the part of its Dispatcher that benchmarks/ uses.
from collections.abc import Callable
from typing import Any

class Dispatcher:
    @classmethod
    def RegisterHandler(cls, event_name: str, handler: Callable[..., object]) -> None: ...
    @classmethod
    def Dispatch(cls, event: object, *args: Any, **kwargs: Any) -> None: ...
