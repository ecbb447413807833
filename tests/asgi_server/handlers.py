"""Handlers of every ``asgi::`` event, one sync and one ``async def``, autodiscovered when the
server starts (``handlers`` is in the default AUTODISCOVER list).

Each appends one line per event it handles to the file named by ``DJANGO_EVENTS_ASGI_LOG``:
``handler<TAB>event name<TAB>request id<TAB>thread``, the thread for diagnosis only. The file
is opened, written, flushed and closed for each line: several threads write to it.
"""

from __future__ import annotations

import os
import threading

from django_events import on


def record(handler: str, name: str, rid: str) -> None:
    line = f"{handler}\t{name}\t{rid}\t{threading.current_thread().name}\n"
    with open(os.environ["DJANGO_EVENTS_ASGI_LOG"], "a", encoding="utf-8") as log:
        log.write(line)
        log.flush()


@on(r"asgi::.*")
def record_sync(name: str, rid: str) -> None:
    record("sync", name, rid)


@on(r"asgi::.*")
async def record_async(name: str, rid: str) -> None:
    record("async", name, rid)
