"""The seed README's Observer example, unchanged but for the import (and type hints)."""

from __future__ import annotations

from django_events import Observer
from tests.myapp.models import Example


class ExampleModelObserver(Observer):
    observes = Example

    def creating(self, eventName: str, example: Example) -> None:
        print("creating a Example with name:", example.name)

    def created(self, eventName: str, example: Example) -> None:
        print("created a Example with name:", example.name)

    def updating(self, eventName: str, example: Example) -> None:
        print("updating a Example with name:", example.name)

    def updated(self, eventName: str, example: Example) -> None:
        print("updated a Example with name:", example.name)

    def deleting(self, eventName: str, example: Example) -> None:
        print("deleting a Example with name:", example.name)

    def deleted(self, eventName: str, example: Example) -> None:
        print("deleted a Example with name:", example.name)
