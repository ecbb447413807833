"""README.md's Quick start works as pasted: a fresh project made of its files runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SETTINGS = """
SECRET_KEY = "quick start"
INSTALLED_APPS = ["django_events", "shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
"""


def quick_start_files() -> dict[str, str]:
    """The Quick start's code blocks, by the path their first comment names."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.DOTALL):
        first, _, body = block.partition("\n")
        path = first.removeprefix("# ").split(" ", 1)[0]
        files[path] = body
    return files


def test_the_quick_start_runs_as_pasted(tmp_path: Path) -> None:
    files = quick_start_files()
    assert set(files) == {"shop/events.py", "shop/handlers.py", "anywhere"}
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    for path in ("shop/events.py", "shop/handlers.py"):
        (tmp_path / path).write_text(files[path])
    (tmp_path / "settings.py").write_text(SETTINGS)
    (tmp_path / "anywhere.py").write_text("import django\n\ndjango.setup()\n\n" + files["anywhere"])
    result = subprocess.run(
        [sys.executable, "anywhere.py"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings",
            "PYTHONPATH": str(tmp_path),
        },
    )
    # Nothing imported shop.handlers but autodiscovery; gevent mode ran it by exit.
    assert result.stdout.splitlines() == ["receipt for order 1: 9.99"]
