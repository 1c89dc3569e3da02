"""Mandate ships whole: a built wheel carries the policy and the migrations, and the installed
`mandate` command works without a checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
NOT_SOURCES = (".git", ".venv", "var", "build", "dist", "*.egg-info", "test-output", ".*_cache")
NOT_SOURCES += (".hypothesis", "__pycache__")


def test_every_package_of_the_checkout_is_listed_for_the_wheel() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for top in ("core", "api", "admin")
        for init in (REPO_ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages"
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert mapped == {"core.bundled.policies": "policies", "core.bundled.migrations": "migrations"}


def _run(command: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MANDATE_", "PYTHON"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    # Built from a copy of the sources, so the checkout gets no build/ folder (whose stale
    # files a later build would ship).
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=source,
        env=env,
    )
    (wheel,) = wheels.glob("mandate-*.whl")

    # A fresh environment outside the checkout. Its dependencies come from the test's own
    # environment (a path entry, so that environment's editable Mandate is not on it), which
    # keeps the test off the network; Mandate itself comes only from the wheel.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=tmp_path,
            env=env,
        ).strip()
    )
    (site / "_mandate_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
        ],
        cwd=tmp_path,
        env=env,
    )

    where = _run([str(python), "-c", "import core; print(core.__file__)"], cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(site)
    mandate = str(venv / "bin" / "mandate")
    assert _run([mandate, "--version"], cwd=tmp_path, env=env).strip() == "mandate 0.1.0"

    database = tmp_path / "fresh.db"
    env_db = {**env, "MANDATE_DATABASE_URL": f"sqlite:///{database}"}
    upgraded = _run([mandate, "db", "upgrade"], cwd=tmp_path, env=env_db)
    assert "is at revision" in upgraded and database.exists()
    tested = _run([mandate, "policy", "test"], cwd=tmp_path, env=env)
    assert "cases passed" in tested
    # The camt.053 schema statement exports are valid against ships in the wheel.
    schema = _run(
        [
            str(python),
            "-c",
            "from core.statements.camt053 import SCHEMA; print(len(SCHEMA.read_bytes()))",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert int(schema) > 100_000

    # Without a checkout, the default database lives in the data directory, not site-packages.
    default = _run(
        [str(python), "-c", "from core.settings import Settings; print(Settings().database_url)"],
        cwd=tmp_path,
        env=env,
    )
    assert default.strip() == f"sqlite:///{tmp_path / 'data' / 'mandate' / 'mandate.db'}"
