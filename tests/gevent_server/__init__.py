"""A test project served by a real gevent WSGI server (``gevent.pywsgi.WSGIServer`` after
``gevent.monkey.patch_all()``), for tests/test_gevent_server.py.

``python -m tests.gevent_server.serve PORT`` patches, sets Django up on the SQLite file
named by ``DJANGO_EVENTS_GSERVER_DB``, creates the observed model's table, dispatches one
event at start-up and serves. Every handler appends one line per event it handles to the
file named by ``DJANGO_EVENTS_GSERVER_LOG``: ``handler<TAB>key``.
"""

from __future__ import annotations

import socket


def read_line(sock: socket.socket) -> bytes:
    """What ``sock`` receives up to a newline (included), or until the peer closes."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(100)
        if not chunk:
            break
        data += chunk
    return data
