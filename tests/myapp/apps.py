"""The seed README's "Registering Observers" app, unchanged but for the import."""

from __future__ import annotations

from django.apps import AppConfig


class MyAppConfig(AppConfig):
    name = "tests.myapp"
    label = "myapp"

    def ready(self) -> None:
        import tests.myapp.observers  # noqa: F401
