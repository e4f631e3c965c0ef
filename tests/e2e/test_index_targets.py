"""Publish targets against real servers on 127.0.0.1: pypiserver via twine, S3 via moto."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import S3Server, pypi_server

from wheel_matrix.errors import UserError
from wheel_matrix.index import build_index, deploy
from wheel_matrix.index.verify import verify_index
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def isolated_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp / "uv-cache"),
    )
    return env


def uv_install(index_url: str, tmp: Path) -> str:
    """Install causal-conv1d from ``index_url`` into a fresh venv; return its version."""
    env = isolated_env(tmp)
    subprocess.run(["uv", "venv", str(tmp / "venv")], env=env, check=True, capture_output=True)
    python = str(tmp / "venv" / "bin" / "python")
    done = subprocess.run(
        ["uv", "pip", "install", "--python", python, "--index-url", index_url, "causal-conv1d"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return subprocess.run(
        [python, "-c", "import causal_conv1d as c; print(c.__version__)"],
        cwd=tmp,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[str]:
    packages = tmp_path / "pypiserver-packages"
    packages.mkdir()
    # -a . -P .: uploads without authentication.
    with pypi_server(packages, "-a", ".", "-P", ".") as base:
        yield base


def test_twine_upload_to_pypiserver_then_install(tmp_path: Path, pypiserver: str) -> None:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "causal-conv1d", "1.7.0+cputorch2.13")
    env = {**os.environ, "TWINE_USERNAME": "ci", "TWINE_PASSWORD": "unused"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wheel_matrix",
            "publish",
            "--to",
            f"twine:{pypiserver}/",
            "--wheels",
            str(wheels),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert uv_install(f"{pypiserver}/simple/", tmp_path) == "1.7.0+cputorch2.13"


def test_s3_bucket_serves_installers(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    s3 = s3_server.url
    s3_server.public_bucket("wheels")
    client = boto3.client("s3", endpoint_url=s3)
    root = tmp_path / "index"
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cu130torch2.14")], root)
    first = deploy.publish_s3(root, "s3://wheels/simple", s3)
    assert "simple/cu130/causal-conv1d/" in first.uploaded
    wheel = "causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl"
    head = client.head_object(Bucket="wheels", Key=f"simple/cu130/causal-conv1d/{wheel}")
    assert head["ContentType"] == "application/octet-stream"
    assert "immutable" in head["CacheControl"]
    page = client.head_object(Bucket="wheels", Key="simple/cu130/causal-conv1d/index.json")
    assert page["ContentType"] == "application/vnd.pypi.simple.v1+json"
    # Incremental: a second publish with one more wheel uploads only what changed.
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.1+cu130torch2.14")], root)
    second = deploy.publish_s3(root, "s3://wheels/simple", s3)
    assert not any(k.endswith("1.7.0+cu130torch2.14-py3-none-any.whl") for k in second.uploaded)
    assert any(k.endswith("1.7.1+cu130torch2.14-py3-none-any.whl") for k in second.uploaded)
    # The %2B hrefs resolve to the "+" keys; a bare "+" would be read as a space.
    assert uv_install(f"{s3}/wheels/simple/cu130/", tmp_path) == "1.7.1+cu130torch2.14"
    assert verify_index(f"{s3}/wheels/simple").ok
    # Immutable there too: other bytes under a published name are refused.
    other = tmp_path / "other"
    build_index(
        [
            make_wheel(
                tmp_path / "x",
                "causal-conv1d",
                "1.7.0+cu130torch2.14",
                files={"causal_conv1d/__init__.py": b"# other\n"},
            )
        ],
        other,
    )
    with pytest.raises(UserError, match="already published with other bytes"):
        deploy.publish_s3(other, "s3://wheels/simple", s3)


def test_github_pages_tree(tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cputorch2.13")], root)
    pages = tmp_path / "gh-pages"
    first = deploy.publish_pages(root, pages)
    assert ".nojekyll" in first.uploaded and (pages / ".nojekyll").is_file()
    assert verify_index(str(pages)).ok
    assert deploy.publish_pages(root, pages).uploaded == ()
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.1+cputorch2.13")], root)
    again = deploy.publish_pages(root, pages)
    assert set(again.uploaded) == {
        "cpu/causal-conv1d/causal_conv1d-1.7.1+cputorch2.13-py3-none-any.whl",
        "cpu/causal-conv1d/causal_conv1d-1.7.1+cputorch2.13-py3-none-any.whl.metadata",
        "cpu/causal-conv1d/index.html",
        "cpu/causal-conv1d/index.json",
        "channels.json",
        "index.html",
    }
    assert again.uploaded[0].endswith(".whl") and again.uploaded[-1] == "index.html"
