"""The ASGI application that the test starts uvicorn with: ``tests.asgi_server.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from django_events import dispatcher

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi_server.settings")

application = get_asgi_application()

# Outside any request, before the server's event loop starts: in gevent mode it waits for a
# hub turn that never comes under uvicorn, and runs at exit, after SIGTERM.
dispatcher.dispatch("asgi::startup", "startup")
