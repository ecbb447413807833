"""``manage.py events``: what is registered, and which handlers a name would run."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from django_events._dispatcher import EventDispatcher, dispatcher
from django_events._routing import Registration
from django_events.exceptions import describe


def _describe(registration: Registration) -> dict[str, Any]:
    target = registration.target
    options = registration.queue
    return {
        "target": target if isinstance(target, str) else target.event_name,
        "kind": "pattern" if isinstance(target, str) else "event",
        "event_class": None if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}",
        "handler": registration.label,
        "delivery": "after_commit" if registration.after_commit else "immediate",
        "using": registration.using,
        "queue": None if options is None else dataclasses.asdict(options),
    }


def _delivery(entry: dict[str, Any]) -> str:
    if entry["delivery"] == "immediate":
        when = "immediate"
    else:
        when = f"after commit on {entry['using']!r}" if entry["using"] else "after commit"
    queue = entry["queue"]
    if queue is None:
        return when
    parts = [f"queued on {queue['queue_name']!r}"]
    if queue["priority"] is not None:
        parts.append(f"priority {queue['priority']}")
    if queue["retries"]:
        parts.append(f"{queue['retries']} retries")
    if when != "immediate":
        parts.append(when)
    return ", ".join(parts)


def _dispatcher(path: str | None) -> EventDispatcher:
    """The dispatcher ``--dispatcher`` names (the default one without it)."""
    if path is None:
        return dispatcher
    try:
        found = import_string(path)
    except ImportError as error:
        raise CommandError(
            f"--dispatcher {path!r} cannot be imported ({error}); expected the dotted path of an "
            "EventDispatcher, such as 'shop.events.payments'"
        ) from error
    if not isinstance(found, EventDispatcher):
        raise CommandError(f"--dispatcher {path!r} is {describe(found)}, not an EventDispatcher")
    return found


class Command(BaseCommand):
    help = "List registered event handlers, or the handlers an event name would run, in order."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--match", metavar="NAME", help="show the handlers NAME reaches, in order")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument(
            "--dispatcher",
            metavar="PATH",
            help="the dotted path of another EventDispatcher (default: django_events.dispatcher)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str | None = options["match"]
        target = _dispatcher(options["dispatcher"])
        registrations = target.registrations if name is None else target.resolve(name)
        entries = [_describe(r) for r in registrations]
        if options["json"]:
            document: dict[str, Any] = {"mode": target.mode, "handlers": entries}
            if name is not None:
                document["name"] = name
            self.stdout.write(json.dumps(document, indent=2))
        elif name is not None:
            self._write_match(name, entries)
        else:
            self._write_all(target.mode, entries)

    def _write_match(self, name: str, entries: list[dict[str, Any]]) -> None:
        if not entries:
            self.stdout.write(f"{name}: no handler")
            return
        self.stdout.write(f"{name}: {len(entries)} handler(s), run in this order")
        for number, entry in enumerate(entries, 1):
            via = entry["event_class"] or f"pattern {entry['target']!r}"
            self.stdout.write(f"  {number}. {entry['handler']}  [{_delivery(entry)}] via {via}")

    def _write_all(self, mode: str, entries: list[dict[str, Any]]) -> None:
        self.stdout.write(f"mode: {mode}; {len(entries)} registration(s)")
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for entry in entries:
            groups.setdefault((entry["kind"], entry["event_class"] or entry["target"]), []).append(entry)
        for (kind, target), members in groups.items():
            self.stdout.write(f"{target}" + (" (Event class)" if kind == "event" else ""))
            for entry in members:
                self.stdout.write(f"  {entry['handler']}  [{_delivery(entry)}]")
