"""Lint gates on the committed generated files, and the CI policy they must keep.

hadolint on every Dockerfile, zizmor on .github/, the GitHub workflow schema,
and cibuildwheel itself on every cell's configuration. The tools come with the
test dependencies; a missing one fails the gate rather than skipping it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from wheel_matrix.configuration import matrix_file
from wheel_matrix.plan import cells
from wheel_matrix.render import files

pytestmark = pytest.mark.lint

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
CONFIGS = sorted((ROOT / "cibuildwheel").glob("*.toml"))


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed (it is in the test dependencies)")
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_there_is_something_to_lint() -> None:
    assert {"ci.yml", "release.yml"} <= {p.name for p in WORKFLOWS}
    assert DOCKERFILES and len(CONFIGS) == len(cells(matrix_file.load()))


def test_hadolint_is_clean_on_every_dockerfile() -> None:
    done = _run([_tool("hadolint"), "--failure-threshold", "info", *map(str, DOCKERFILES)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_gate_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM rockylinux:8\nRUN dnf install -y gcc && pip install foo\n")
    assert _run([_tool("hadolint"), str(bad)]).returncode != 0


def test_zizmor_has_no_findings() -> None:
    done = _run([_tool("zizmor"), "--offline", "--no-progress", ".github/"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    done = _run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                 *map(str, WORKFLOWS)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_cibuildwheel_accepts_every_cell_configuration() -> None:
    """Its schema and environment parser in-process, for every cell's file."""
    import jsonschema
    from cibuildwheel.environment import parse_environment

    cibw = Path(__import__("cibuildwheel").__file__).parent
    schema = json.loads((cibw / "resources" / "cibuildwheel.schema.json").read_text())
    by_id = {c.id: c for c in cells(matrix_file.load())}
    for config in CONFIGS:
        options = tomllib.loads(config.read_text())["tool"]["cibuildwheel"]
        jsonschema.validate(options, schema)
        env = " ".join(f'{k}="{v}"' for k, v in options["environment"].items())
        assert parse_environment(env).as_dictionary({"PATH": "/usr/bin"})["PATH"] == (
            "/opt/ccache/bin:/usr/bin"
        )
        cell = by_id[config.stem]
        assert options["build"] == [
            f"cp{p.replace('.', '')}-manylinux_{cell.arch}" for p in cell.pythons
        ]


@pytest.mark.parametrize("name", ["torch2.14-cu130-aarch64", "torch2.6-cu124-x86_64",
                                  "torch2.13-cpu-x86_64"])
def test_cibuildwheel_prints_the_cell_identifiers(name: str) -> None:
    cell = next(c for c in cells(matrix_file.load()) if c.id == name)
    done = _run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
                 "--platform", "linux", "--config-file", f"cibuildwheel/{name}.toml"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        f"cp{p.replace('.', '')}-manylinux_{cell.arch}" for p in cell.pythons
    ]


def test_cibuildwheel_rejects_a_bad_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIGS[0].read_text() + 'bogus-option = "x"\n')
    done = _run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
                 "--platform", "linux", "--config-file", str(bad)])
    assert done.returncode != 0 and "bogus-option" in done.stderr


def _flows() -> dict[str, dict[str, object]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in WORKFLOWS}


def test_actions_are_pinned_by_commit_sha_with_their_version() -> None:
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"uses: [\w-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), (
                    f"{path.name}: {line.strip()}"
                )


def test_least_privilege_and_no_persisted_credentials() -> None:
    for name, flow in _flows().items():
        assert flow["permissions"] == {}, name
        for job_name, job in flow["jobs"].items():
            assert "permissions" in job, f"{name}: {job_name}"
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_pull_request_jobs_get_no_secrets_or_write_access() -> None:
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    assert "secrets." not in text and "pull_request_target" not in text
    for job in _flows()["ci.yml"]["jobs"].values():
        assert job["permissions"] == {"contents": "read"}


def test_jobs_run_the_maintainers_nox_sessions() -> None:
    ci = (ROOT / ".github/workflows/ci.yml").read_text()
    release = (ROOT / ".github/workflows/release.yml").read_text()
    assert "run: nox -s tests" in ci
    assert "run: nox -s render -- --check" in ci
    assert 'run: nox -s "build-cell(${CELL})"' in ci
    assert 'run: nox -s "build-cell(${CELL})"' in release
    noxfile = (ROOT / "noxfile.py").read_text()
    assert '@nox.session(name="build-cell"' in noxfile and "def render(" in noxfile


def test_release_attests_uploads_and_publishes_with_oidc() -> None:
    jobs = _flows()["release.yml"]["jobs"]
    build_steps = [s.get("uses", "").split("@")[0] for s in jobs["build"]["steps"]]
    assert build_steps.index("actions/attest-build-provenance") < build_steps.index(
        "actions/upload-artifact"
    )
    assert jobs["build"]["permissions"]["id-token"] == "write"
    publish = jobs["publish"]
    assert publish["needs"] == "build"
    assert publish["permissions"] == {"contents": "read", "id-token": "write"}
    uses = [s.get("uses", "").split("@")[0] for s in publish["steps"]]
    assert "aws-actions/configure-aws-credentials" in uses  # OIDC role, no stored keys
    assert "secrets." not in (ROOT / ".github/workflows/release.yml").read_text()
    matrix = jobs["build"]["strategy"]["matrix"]["include"]
    assert len(matrix) == len(cells(matrix_file.load())) <= files.GITHUB_MATRIX_LIMIT
