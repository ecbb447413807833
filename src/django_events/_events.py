"""The ``Event`` base class: typed dataclass payloads with a class-level event name."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import reprlib
from collections.abc import Callable
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
    async def adispatch(self, event: Event, /) -> None: ...


#: The default dispatcher, set by django_events._dispatcher when it creates it (this
#: module sits below it, so it is handed down rather than imported).
_default: _Dispatching


def use_default(dispatcher: _Dispatching) -> None:
    """Make ``dispatcher`` the one ``Event.dispatch()`` uses."""
    global _default
    _default = dispatcher


#: Called after an Event class was renamed (``E.Name = "..."`` after its definition): the
#: routers forget what they cached by name.
_rename_hooks: list[Callable[[], None]] = []


def on_rename(hook: Callable[[], None]) -> None:
    _rename_hooks.append(hook)


class _EventMeta(type):
    """So that ``str(OrderPaid)`` is the event name, and ``OrderPaid.Name = "..."`` after the
    class was defined renames it (the original read ``Name`` at each dispatch)."""

    def __str__(cls) -> str:
        return getattr(cls, "event_name", cls.__name__)

    def __setattr__(cls, key: str, value: Any) -> None:
        if key not in ("Name", "event_name") or "_own_name" not in cls.__dict__:
            super().__setattr__(key, value)
            return
        if not isinstance(value, str) or not value:
            raise TypeError(f"{cls.__qualname__}.{key} must be a non-empty str, got {value!r}")
        _name(cls, value, own=True, shared=key == "Name" or bool(cls.__dict__["_shared_name"]))
        for hook in _rename_hooks:
            hook()


def _name(cls: Any, name: str, *, own: bool, shared: bool) -> None:
    """Name an Event class, and the subclasses that share its name (legacy ``Name``)."""
    for key, value in (("event_name", name), ("Name", name), ("_own_name", own), ("_shared_name", shared)):
        type.__setattr__(cls, key, value)
    if shared:
        for sub in cls.__subclasses__():
            if not sub.__dict__.get("_own_name", True):
                _name(sub, name, own=False, shared=True)


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
    #: Whether the class set its name itself (else it has the default, or shares its parent's).
    _own_name: ClassVar[bool] = False
    #: A name set the legacy way (``Name = "..."``) is shared by subclasses, as in the original.
    _shared_name: ClassVar[bool] = False
    #: For events that code cannot dispatch itself (model events: a save dispatches their
    #: name with the instance): wraps a handler ``h(event)`` into ``call(name, *args)``,
    #: which builds the event from what the dispatch carries.
    _handler_adapter: ClassVar[Callable[[Callable[..., object]], Callable[..., object]] | None] = None
    #: Why its handlers cannot be queued (model events before a save, or after a delete: a
    #: worker loads the instance again by primary key), or None.
    _not_queueable: ClassVar[str | None] = None

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
        shared = "Name" in own or ("event_name" not in own and cls._shared_name)
        if "event_name" in own:
            name = own["event_name"]
        elif "Name" in own:
            name = own["Name"]
        else:
            name = cls.event_name if shared else path_from_class(cls)
        if "event_name" in own and "Name" in own and own["Name"] != own["event_name"]:
            raise TypeError(
                f"{cls.__qualname__} sets event_name={own['event_name']!r} and "
                f"Name={own['Name']!r}; set one of them"
            )
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__qualname__}.event_name must be a non-empty str, got {name!r}")
        _name(cls, name, own="event_name" in own or "Name" in own, shared=shared)
        if "__init__" in own or any(
            "__init__" in vars(base) for base in cls.__mro__[1:-1] if not issubclass(base, Event)
        ):  # its own __init__, or a mixin's: kept, not replaced by a dataclass's
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

    async def adispatch(self) -> None:
        """Dispatch this event through the default dispatcher from async code, and wait for
        its handlers (``EventDispatcher.adispatch``)."""
        await _default.adispatch(self)

    def __str__(self) -> str:
        """The event's name, as in the original package (``repr()`` shows the fields)."""
        return type(self).event_name

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        """A legacy event (its own ``__init__``, not a dataclass) shows its attributes, as a
        dataclass shows its fields (a dataclass's own ``__repr__`` replaces this one)."""
        attributes = dict(getattr(self, "__dict__", {}))
        for cls in type(self).__mro__:  # what __slots__ keep, set ones only
            slots = cls.__dict__.get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                if slot not in attributes:  # (one a subclass declares again: its own)
                    with contextlib.suppress(AttributeError):
                        attributes[slot] = getattr(self, _mangled(cls, slot))
        fields = ", ".join(f"{key}={value!r}" for key, value in attributes.items())
        return f"{type(self).__qualname__}({fields})"


def _mangled(cls: type, name: str) -> str:
    """A slot's attribute name: ``__x`` declared in class ``C`` is ``_C__x``."""
    if name.startswith("__") and not name.endswith("__"):
        return f"_{cls.__name__.lstrip('_')}{name}"
    return name
