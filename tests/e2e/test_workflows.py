"""The GitHub Actions workflows, run here job by job from a bare interpreter.

Each job's ``run:`` lines run literally and in order (see workflow_runner for
the local stand-ins of the ``uses:`` steps): the render drift check, the pull
request's build of the newest torch's CPU cell, and the release path, that
cell's build job and then the publish job, which deploys into the S3 server
on 127.0.0.1 and verifies what it deployed with real pip and uv.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import S3Server
from workflow_runner import Run, load_workflow, run_job

from wheel_matrix.configuration import matrix_file
from wheel_matrix.plan import cells

pytestmark = pytest.mark.e2e


def newest_cpu_cell() -> str:
    return next(c.id for c in cells(matrix_file.load()) if c.cuda is None and c.arch == "x86_64")


def matrix_entry(workflow: str, job: str, cell: str) -> dict[str, str]:
    include = load_workflow(workflow)["jobs"][job]["strategy"]["matrix"]["include"]
    entry: dict[str, str] = next(e for e in include if e["cell"] == cell)
    return entry


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[Run]:
    s3_server.public_bucket("wheels")
    # Short paths: job homes hold venvs, whose script shebangs have a length limit.
    base = Path(tempfile.mkdtemp(prefix="gha-"))
    variables = {
        "INDEX_S3_URL": "s3://wheels/simple",
        "INDEX_BASE_URL": f"{s3_server.url}/wheels/simple/",
        "INDEX_AWS_ROLE_ARN": "arn:aws:iam::000000000000:role/index-publisher",
        "INDEX_AWS_REGION": "us-east-1",
    }
    aws = {**s3_server.env, "AWS_ENDPOINT_URL": s3_server.url}
    yield Run(base, variables=variables, aws=aws)
    shutil.rmtree(base, ignore_errors=True)


def test_render_check_job(run: Run) -> None:
    executed = run_job(run, "ci.yml", "render")
    assert executed[-1] == "nox -s render -- --check"


def test_pull_request_builds_the_newest_cpu_cell(run: Run) -> None:
    cell = newest_cpu_cell()
    executed = run_job(run, "ci.yml", "build", matrix_entry("ci.yml", "build", cell))
    assert executed[-1] == 'nox -s "build-cell(${CELL})"'
    workspace = run.base / "jobs" / f"j{run.jobs}" / "work"
    (wheel,) = (workspace / "dist" / "wheels").glob("*.whl")
    assert "+cputorch" in wheel.name
    assert (workspace / "dist" / "index" / "cpu" / "causal-conv1d" / "index.json").is_file()
    # The compile cache was saved for the next run of this job.
    assert any(p.name.startswith(f"ccache-{cell}-") for p in run.caches.iterdir())


def test_release_builds_publishes_and_verifies(run: Run) -> None:
    cell = newest_cpu_cell()
    run_job(run, "release.yml", "build", matrix_entry("release.yml", "build", cell))
    (artifact,) = run.artifacts.glob(f"wheels-{cell}/*.whl")
    executed = run_job(run, "release.yml", "publish")
    assert executed[-1].startswith('nox -s cli -- verify "$INDEX_BASE_URL"')
    assert "attest-build-provenance not run here" in "\n".join(run.log)
    # What installers see at the published URL: the wheel, listed in its channel.
    url = f"{run.variables['INDEX_BASE_URL']}cpu/causal-conv1d/index.json"
    with urllib.request.urlopen(url, timeout=30) as response:
        page = json.loads(response.read())
    assert [f["filename"] for f in page["files"]] == [artifact.name]
    listed = page["files"][0]["hashes"]["sha256"]
    assert listed == hashlib.sha256(Path(artifact).read_bytes()).hexdigest()
