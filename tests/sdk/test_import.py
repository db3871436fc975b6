"""``import moorline`` is cheap and has no side effects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "numpy",
    "pandas",
    "pydantic",
    "click",
    "rich",
    "boto3",
    "moorline.bootstrap",
    "moorline.store",
    "moorline.server",
    "moorline.cli",
)


def test_import_loads_no_heavy_module_and_touches_nothing(tmp_path: Path) -> None:
    code = (
        "import json, sys, time\n"
        "t = time.perf_counter()\n"
        "import moorline\n"
        "elapsed = time.perf_counter() - t\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'elapsed': elapsed}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORLINE_")}
    env["MOORLINE_TRACKING_URI"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    loaded = [m for m in report["modules"] if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []
    assert list(tmp_path.iterdir()) == []  # no .moorline folder, no database file
    # Measured at about 0.03 s; the bound only catches a heavy import creeping in.
    assert report["elapsed"] < 0.5
