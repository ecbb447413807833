"""The ``Event`` base class: typed dataclass payloads with a class-level event name."""

from __future__ import annotations

import dataclasses
import inspect
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from typing_extensions import dataclass_transform

if TYPE_CHECKING:
    from ._legacy import LegacyEventMethods as _LegacyNames
else:
    _LegacyNames = object  # the PascalCase class methods: _legacy adds them at import

__all__ = ["Event", "path_from_class", "use_default"]


def path_from_class(cls: type) -> str:
    """The event name for a class: its module and qualified name, ``::`` for every dot.

    >>> path_from_class(OrderPaid)  # defined in shop/events.py
    'shop::events::OrderPaid'
    >>> path_from_class(Order.Paid)  # a nested class keeps its outer class: no clash
    'shop::events::Order::Paid'
    """
    if not isinstance(cls, type):
        raise TypeError(f"path_from_class() expects a class, got {cls!r} ({type(cls).__name__})")
    return f"{cls.__module__}.{cls.__qualname__}".replace(".", "::")


class _Dispatching(Protocol):
    def dispatch(self, event: Event, /) -> None: ...


#: The default dispatcher, set by django_events._dispatcher when it creates it (this
#: module sits below it, so it is handed down rather than imported).
_default: _Dispatching


def use_default(dispatcher: _Dispatching) -> None:
    """Make ``dispatcher`` the one ``Event.dispatch()`` uses."""
    global _default
    _default = dispatcher


class _EventMeta(type):
    """Only so that ``str(OrderPaid)`` is the event name, as in the original package."""

    def __str__(cls) -> str:
        return getattr(cls, "event_name", cls.__name__)


@dataclass_transform()
class Event(_LegacyNames, metaclass=_EventMeta):
    """Base class of typed events; every subclass becomes a dataclass.

    ``class OrderPaid(Event): order_id: int`` has the fields, ``__init__``, ``__eq__`` and
    ``__repr__`` of a dataclass; ``class E(Event, frozen=True)`` makes it immutable. A
    subclass that defines its own ``__init__`` (the original package's style) keeps it.
    """

    #: The name handlers match; defaults to ``path_from_class(cls)``.
    event_name: ClassVar[str]
    #: Legacy spelling of ``event_name`` (read and write).
    Name: ClassVar[str]
    #: True when the class (or an Event base) wrote its own ``__init__``: not a dataclass.
    _legacy_init: ClassVar[bool] = False
    #: A name set the legacy way (``Name = "..."``): subclasses share it, as in the original.
    _inherited_name: ClassVar[str | None] = None

    def __init_subclass__(cls, *, frozen: bool | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(
                f"{cls.__qualname__}: unknown class keyword(s) {', '.join(sorted(kwargs))}; "
                "Event subclasses take frozen=True"
            )
        if frozen is not None and not isinstance(frozen, bool):
            raise TypeError(f"{cls.__qualname__}: frozen must be True or False, got {frozen!r}")
        super().__init_subclass__()
        own = cls.__dict__
        for reserved in ("event_name", "Name"):
            if reserved in inspect.get_annotations(cls):
                raise TypeError(
                    f"{cls.__qualname__}.{reserved} is annotated, which would make it a dataclass "
                    f"field; it is the event's name: assign it without an annotation ({reserved} = '...')"
                )
        if "event_name" in own:
            name = own["event_name"]
            cls._inherited_name = None
        elif "Name" in own:
            name = cls._inherited_name = own["Name"]
        else:
            name = cls._inherited_name or path_from_class(cls)
        if "event_name" in own and "Name" in own and own["Name"] != own["event_name"]:
            raise TypeError(
                f"{cls.__qualname__} sets event_name={own['event_name']!r} and "
                f"Name={own['Name']!r}; set one of them"
            )
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__qualname__}.event_name must be a non-empty str, got {name!r}")
        cls.event_name = cls.Name = name
        if "__init__" in own:
            cls._legacy_init = True
        if cls._legacy_init:
            if frozen:
                raise TypeError(f"{cls.__qualname__} writes its own __init__, so frozen=True cannot apply")
            return
        if frozen is None:  # inherit: a subclass of a frozen event is frozen
            params = getattr(cls, "__dataclass_params__", None)
            frozen = bool(params and params.frozen)
        try:
            dataclasses.dataclass(frozen=frozen)(cls)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Event class {cls.__qualname__}: {exc}") from exc

    def dispatch(self) -> None:
        """Dispatch this event through the default dispatcher."""
        _default.dispatch(self)

    def __str__(self) -> str:
        """The event's name, as in the original package (``repr()`` shows the fields)."""
        return self.event_name
