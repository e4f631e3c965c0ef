"""End-to-end fixtures: one real wheel of the default cell, and an index serving it.

The wheel comes from $WHEEL_MATRIX_WHEEL when the caller built it already
(`nox -s tests` does, so the suite compiles once); otherwise these fixtures
run the real build command themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import S3Server, free_port, wait_until_serving, wheel_matrix

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("WHEEL_MATRIX_WHEEL")
    if given:
        return Path(given)
    dist = tmp_path_factory.mktemp("dist")
    wheel_matrix("build", "--purpose", "test", "--dist", str(dist))
    (wheel,) = sorted((dist / "wheels").glob("*.whl"))
    return wheel


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        yield S3Server(f"http://127.0.0.1:{port}", env)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def index_url(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a served index holding the built wheel (channels below it)."""
    dist = tmp_path_factory.mktemp("published")
    (dist / "wheels").mkdir()
    shutil.copy(built_wheel, dist / "wheels")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    wheel_matrix(
        "index", "--wheels", str(dist / "wheels"), "--out", str(dist / "index"), "--base-url", base
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wheel_matrix",
            "serve",
            "--root",
            str(dist / "index"),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_serving(base, server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
