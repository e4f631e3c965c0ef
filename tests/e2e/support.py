"""Helpers the end-to-end tests share: the CLI, free ports, servers, an S3 server's handle."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_serving(
    url: str,
    proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
    timeout: float = 30,
) -> None:
    """Poll ``url`` until it answers; fail early if ``proc`` (the server) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def pypi_server(packages: Path, *options: str) -> Iterator[str]:
    """pypiserver serving ``packages`` on 127.0.0.1; yields its base URL (no /simple/)."""
    exe = shutil.which("pypi-server")
    assert exe, "pypiserver is not installed (it is in the test dependency group)"
    port = free_port()
    server = subprocess.Popen(
        [exe, "run", "-i", "127.0.0.1", "-p", str(port), *options, str(packages)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/simple/", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@dataclass(frozen=True)
class S3Server:
    """An S3-compatible server (moto) on 127.0.0.1, with its credentials."""

    url: str
    env: dict[str, str]

    def public_bucket(self, name: str) -> None:
        """A bucket installers read anonymously, as from a public bucket or a CDN."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.url, **_boto_args(self.env))
        client.create_bucket(Bucket=name)
        statement = {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{name}/*",
        }
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


def _boto_args(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


def wheel_matrix(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the service's CLI as a user would, failing the test with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "wheel_matrix", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"wheel_matrix {' '.join(args)} failed:\n{output}"
    return done
