# /// script
# requires-python = ">=3.11"
# dependencies = ["nox>=2025.2.9", "pyyaml>=6", "packaging>=24"]
# ///
"""Sessions for maintainers and CI; the same ones run in both places.

The build sessions are generated from matrix.yaml through the planner, so
`nox -l` shows one `build-cell(...)` per cell of the matrix. Reading the
plan needs PyYAML and packaging: the script block above declares them, so on a
bare interpreter with only nox installed, nox makes an environment holding
them (.nox/_nox_script_mode) and runs this file there.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from wheel_matrix import plan  # noqa: E402
from wheel_matrix.configuration import matrix_file, settings  # noqa: E402
from wheel_matrix.errors import UserError  # noqa: E402

nox.needs_version = ">=2025.2.9"
# Plain venv + pip: pip honours the machine's wheel cache and torch indexes, which uv does not.
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "unit"]
# The suite promises the oldest and newest supported Python: a missing one is a failure.
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
SERVICE = nox.project.dependency_groups(PYPROJECT, "service")
TEST = nox.project.dependency_groups(PYPROJECT, "test")
DIST = ROOT / "dist"


def _read_plan() -> tuple[list[str], tuple[str, ...]]:
    """The cell ids, and the service's oldest and newest Python (templates/settings.yaml)."""
    try:
        return [c.id for c in plan.cells(matrix_file.load())], settings.load().pythons
    except UserError as err:
        # A broken matrix.yaml must read as one line, not a traceback from inside nox.
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


# The wheels themselves serve Python 3.10 and up; the service needs 3.11.
CELL_IDS, SERVICE_PYTHONS = _read_plan()


def _wheel_matrix(session: nox.Session, *args: str) -> None:
    session.run("python", "-m", "wheel_matrix", *args)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and type-check (ruff, mypy --strict), and lint the generated files and noxfile."""
    session.install(*TEST)
    session.run("ruff", "check", ".")
    session.run("mypy")
    session.run("python", "-m", "pytest", "tests/lint", *session.posargs)


@nox.session(python=SERVICE_PYTHONS)
def unit(session: nox.Session) -> None:
    """Run the fast unit tests (no builds, no network) on the oldest and newest Python."""
    session.install(*TEST)
    session.run("python", "-m", "pytest", "tests/unit", *session.posargs)


@nox.session(default=False)
def cli(session: nox.Session) -> None:
    """Run the service's command line: nox -s cli -- cells (or verify, which-index, ...)."""
    session.install(*SERVICE)
    _wheel_matrix(session, *(session.posargs or ["--help"]))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole suite: lint, build the default cell, then unit, extension and e2e tests."""
    session.install(*TEST)
    session.run("ruff", "check", ".")
    session.run("mypy")
    work = Path(session.create_tmp()).resolve()
    dist = work / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    # Tests compile for the plan's one test arch; releases use matrix.yaml's lists.
    # The host backend: the container backend's own tests build in containers.
    session.run(
        "python", "-m", "wheel_matrix", "build", "--backend", "host", "--purpose", "test",
        "--dist", str(dist),
    )
    (wheel,) = sorted((dist / "wheels").glob("*.whl"))
    session.install(str(wheel))
    # The extension tests import the installed wheel: run them outside the
    # repository root so the source tree's causal_conv1d/ can't shadow it. The
    # wheel was just built, so failing to import it fails the suite, not skips it.
    session.run(
        "pytest",
        str(ROOT / "tests" / "extension"),
        *session.posargs,
        env={"CAUSAL_CONV1D_TESTS_REQUIRE_EXTENSION": "1"},
    )
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/lint",
        "tests/unit",
        "tests/e2e",
        "tests/fuzz",
        *session.posargs,
        env={"WHEEL_MATRIX_WHEEL": str(wheel)},
    )
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in SERVICE_PYTHONS:
        if python != here:
            session.notify(f"unit-{python}")


def _build(session: nox.Session, cells: list[str]) -> None:
    session.install(*SERVICE)
    args = [a for c in cells for a in ("--cell", c)]
    _wheel_matrix(session, "build", "--dist", str(DIST), *args, *session.posargs)
    _wheel_matrix(session, "index", "--wheels", str(DIST / "wheels"), "--out", str(DIST / "index"))


@nox.session(default=False)
def build(session: nox.Session) -> None:
    """Build this machine's default cell and publish it to the local index in dist/."""
    _build(session, [])


@nox.session(name="build-cell", default=False)
@nox.parametrize("cell", CELL_IDS, ids=CELL_IDS)
def build_cell(session: nox.Session, cell: str) -> None:
    """Build one matrix cell and publish it to the local index in dist/."""
    _build(session, [cell])


@nox.session(default=False)
def index(session: nox.Session) -> None:
    """Regenerate the local index in dist/index from the wheels in dist/wheels."""
    session.install(*SERVICE)
    _wheel_matrix(
        session, "index", "--wheels", str(DIST / "wheels"), "--out", str(DIST / "index"),
        *session.posargs,
    )


@nox.session(default=False)
def serve(session: nox.Session) -> None:
    """Serve dist/index over HTTP on 127.0.0.1 (pip/uv can install from it)."""
    session.install(*SERVICE)
    _wheel_matrix(session, "serve", "--root", str(DIST / "index"), *session.posargs)


@nox.session(default=False)
def render(session: nox.Session) -> None:
    """Write the Dockerfiles, cibuildwheel configs and workflows from matrix.yaml (-- --check)."""
    session.install(*SERVICE)
    _wheel_matrix(session, "render", *session.posargs)


@nox.session(name="sync-torch", default=False)
def sync_torch(session: nox.Session) -> None:
    """Add new torch releases from the package index to matrix.yaml, then render (-- --check)."""
    session.install(*SERVICE)
    _wheel_matrix(session, "sync-torch", *session.posargs)


@nox.session(default=False)
def publish(session: nox.Session) -> None:
    """Deploy dist/index to its host (-- --to s3://BUCKET/PREFIX, pages:DIR or twine:URL)."""
    session.install(*SERVICE)
    _wheel_matrix(session, "publish", "--root", str(DIST / "index"), *session.posargs)
