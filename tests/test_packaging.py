"""The built wheel is a complete server: screens, the demo branch and every module, served from site-packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tracked(*where: str) -> list[str]:
    """The checkout's files (committed or new, not ignored): what a release is built from."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *where],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def _clean_copy(dest: Path) -> Path:
    """The sources alone, so no build/ left in the checkout by an earlier build leaks into this one."""
    for name in _tracked():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, target)
    return dest


def test_the_wheel_ships_the_screens_and_serves_them(tmp_path: Path) -> None:
    """`pip wheel .` puts every file of display/ and kiosk/ under server/frontend/, and an app imported from
    the unpacked wheel (not the checkout) serves the lobby, its script and the kiosk."""
    source = _clean_copy(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("branchq-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "site")
    screens = set(_tracked("display", "kiosk"))
    assert screens, "display/ and kiosk/ hold the screens"
    assert {f"server/frontend/{name}" for name in screens} <= names
    assert "server/branches/demo.toml" in names

    probe = (
        "import server, server.app as app\n"
        "from fastapi.testclient import TestClient\n"
        "assert server.__file__.startswith({site!r}), server.__file__\n"
        "with TestClient(app.create_app()) as c:\n"
        "    print([c.get(p).status_code for p in ('/display/demo', '/display/js/bq.js', '/kiosk/demo')])\n"
    ).format(site=str(tmp_path / "site"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "BRANCHQ_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[200, 200, 200]"
