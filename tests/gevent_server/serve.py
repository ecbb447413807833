"""``python -m tests.gevent_server.serve PORT [ECHO_PORT]``: a gevent WSGI server for the project.

``DJANGO_EVENTS_GSERVER_STOP=gevent`` stops the server on SIGTERM/SIGINT with
``gevent.signal_handler(..., server.stop)`` as many gevent sites do; otherwise SIGTERM has
whatever handler ``django_events`` installs at ``ready()``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import django  # noqa: E402
import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.gevent_server.settings")
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402

from django_events import dispatcher  # noqa: E402
from tests.gevent_server import read_line  # noqa: E402
from tests.gevent_server.models import Thing  # noqa: E402


def echo(sock: socket.socket, address: object) -> None:
    data = read_line(sock)
    if data.endswith(b"\n"):  # (else the client left)
        gevent.sleep(0.05)
        sock.sendall(data)


def main() -> None:
    port, echo_port = int(sys.argv[1]), int(sys.argv[2])
    with connection.schema_editor() as editor:
        editor.create_model(Thing)
    connection.close()
    application = get_wsgi_application()
    # Outside any request, before the server's loop runs.
    dispatcher.dispatch("gs::startup", "startup")
    StreamServer(("127.0.0.1", echo_port), echo).start()
    server = WSGIServer(("127.0.0.1", port), application, log=None)
    if os.environ.get("DJANGO_EVENTS_GSERVER_STOP") == "gevent":
        gevent.signal_handler(signal.SIGTERM, server.stop)
        gevent.signal_handler(signal.SIGINT, server.stop)
    server.start()  # listening before the test is told so
    print("serving", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
