"""End to end under a real ASGI server: uvicorn serves the project of tests/asgi_server/.

In each mode the test starts uvicorn on the loopback address, makes requests to an async
view that calls ``dispatch()``, one that awaits ``adispatch()`` and a sync view that calls
``dispatch()`` (some one after another, some at the same time), then stops the server
with SIGTERM. Every event reaches each of its handlers (a sync one and an ``async def``
one) exactly once, and before the server is told to stop: in gevent mode at the end of
its request (``request_finished``), not at exit. An event dispatched at start-up, outside
any request, waits for exit in gevent mode and is not lost to SIGTERM. No handler fails.
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, measured

VIEWS = ("async-dispatch", "async-adispatch", "sync-dispatch")
HANDLERS = ("sync", "async")
#: Requests to each view: the first ones one after another, the others at the same time.
REQUESTS = 20
SEQUENTIAL = 5
CONCURRENCY = 10
TIMEOUT = 15.0

Line = tuple[str, str, str]  # handler, event name, request id


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    stderr: Path
    mode: str

    def output(self) -> str:
        return self.stderr.read_text(errors="replace")

    def lines(self) -> list[Line]:
        """What the handlers wrote: one (handler, event name, request id) per event handled."""
        found = []
        for text in self.log.read_text().splitlines():
            handler, name, rid, _thread = text.split("\t")
            found.append((handler, name, rid))
        return found

    def get(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            assert response.status == 200
            body: bytes = response.read()
        return body.decode()

    def stop(self) -> int:
        """SIGTERM, then the exit code (a server that does not stop fails the test)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when the server hangs
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the server did not stop within {TIMEOUT:.0f} s of SIGTERM:\n{self.output()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=[("sync", "asyncio"), ("gevent", "asyncio"), ("sync", "uvloop"), ("gevent", "uvloop")])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    mode, loop = request.param
    port = free_port()
    log, stderr = tmp_path / "handled.log", tmp_path / "server.err"
    log.touch()  # the handlers append to it
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.asgi_server.settings",
        "DJANGO_EVENTS_ASGI_MODE": mode,
        "DJANGO_EVENTS_ASGI_LOG": str(log),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, *measured(), "-m", "uvicorn", "tests.asgi_server.asgi:application"]
    options = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--loop",
        loop,
    ]
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [*command, *options], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
    served = Server(process, port, log, stderr, mode)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not accepts(port):
            if process.poll() is not None:  # pragma: no cover - only when the server fails
                pytest.fail(f"the server exited ({process.returncode}) before serving:\n{served.output()}")
            if time.monotonic() > deadline:  # pragma: no cover - only when the server fails
                pytest.fail(f"the server did not listen within {TIMEOUT:.0f} s:\n{served.output()}")
            time.sleep(0.05)
        yield served
    finally:
        if process.poll() is None:  # pragma: no cover - only when the test failed first
            process.kill()
            process.wait()


def wait_for(server: Server, expected: collections.Counter[Line]) -> collections.Counter[Line]:
    """What the handlers wrote once it holds everything expected (or the time is up)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = collections.Counter(server.lines())
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)  # pragma: no cover - timing: gevent mode runs them after the response


def test_every_event_reaches_each_handler_once_by_the_end_of_its_request(server: Server) -> None:
    ids = itertools.count()
    calls = [(view, f"r{next(ids)}") for _ in range(REQUESTS) for view in VIEWS]

    def call(view_and_rid: tuple[str, str]) -> None:
        view, rid = view_and_rid
        assert server.get(f"/{view}/{rid}/") == rid

    first, rest = calls[: SEQUENTIAL * len(VIEWS)], calls[SEQUENTIAL * len(VIEWS) :]
    for each in first:
        call(each)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(call, rest))

    expected = collections.Counter(
        (handler, f"asgi::{view}", rid) for view, rid in calls for handler in HANDLERS
    )
    startup = collections.Counter((handler, "asgi::startup", "startup") for handler in HANDLERS)
    before_stop = wait_for(server, expected)
    code = server.stop()
    handled = collections.Counter(server.lines())
    output = server.output()
    # A graceful stop: uvicorn (0.29+) then raises the signal again, and the server dies of it;
    # with an event still queued (gevent mode: the start-up one) after the exit drain ran it.
    assert code == -signal.SIGTERM, output
    assert "Finished server process" in output, output
    assert handled == expected + startup, (
        f"missing: {expected + startup - handled}, extra: {handled - expected - startup}\n{output}"
    )
    # Every request's events ran by the end of that request; the event dispatched at start-up
    # ran then in sync mode, and at exit in gevent mode (no hub turn under an event loop).
    assert before_stop - startup == expected, f"run only at exit: {expected - before_stop}\n{output}"
    assert (before_stop & startup == startup) is (server.mode == "sync"), output
    assert "Traceback" not in output, output  # no handler failed (they are logged there)
