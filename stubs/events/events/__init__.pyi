# django-event-system 1.0.1 ships no types: the part of it that benchmarks/ uses.
from collections.abc import Callable
from typing import Any, ClassVar

class Dispatcher:
    #: Every registered pattern and its handlers (one table for the whole process).
    handlers: ClassVar[dict[Any, list[Callable[..., object]]]]
    @classmethod
    def RegisterHandler(cls, event_name: str, handler: Callable[..., object]) -> None: ...
    @classmethod
    def Dispatch(cls, event: object, *args: Any, **kwargs: Any) -> None: ...

class Observer:
    #: The model whose saves and deletes the subclass observes.
    observes: ClassVar[Any]
