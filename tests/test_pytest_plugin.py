from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from django_events import Dispatcher, dispatcher, on
from django_events.testing import Capture
from tests.conftest import Recorder


def test_events_fixture_records_in_sync_mode_and_handlers_run(events: Capture, recorder: Recorder) -> None:
    on("a")(recorder)
    Dispatcher.Dispatch("a", 1)
    assert recorder.calls == [("a", 1)]
    events.assert_dispatched("a", times=1)
    assert dispatcher.mode == "sync"


def test_fake_events_fixture_keeps_events_from_handlers(fake_events: Capture, recorder: Recorder) -> None:
    on("a")(recorder)
    Dispatcher.Dispatch("a")
    assert recorder.calls == []
    fake_events.assert_dispatched("a")


def test_a_plain_pytest_project_without_pytest_django(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_plain.py").write_text(
        textwrap.dedent(
            """
            from django_events import Event, on

            class Greeted(Event):
                who: str

            def test_greeting(events):
                seen = []
                on(Greeted)(seen.append)
                Greeted("ada").dispatch()
                assert seen == [Greeted("ada")]
                events.assert_dispatched(Greeted, where=lambda e: e.who == "ada")

            def test_fake(fake_events):
                Greeted("bob").dispatch()
                fake_events.assert_dispatched(Greeted, times=1)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:django", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
