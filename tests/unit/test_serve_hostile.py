"""serve against hostile requests over a real socket: always an answer, never a traceback, and
idle connections let go (each one holds a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheel_matrix.index import build_index
from wheel_matrix.index.serve import serving
from wheel_matrix.wheel.make import make_wheel

WHEEL = "causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("serve-hostile")
    build_index([make_wheel(tmp / "w", "causal-conv1d", "1.7.0+cu130torch2.14")], tmp / "index")
    (tmp / "index" / "loop").symlink_to(tmp / "index" / "loop")
    return tmp / "index"


@pytest.fixture(scope="module")
def url(root: Path) -> Iterator[str]:
    with serving(root, timeout=2.0) as base:
        yield base


@pytest.fixture(autouse=True)
def no_traceback(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    # Whatever a test sent, the server printed no traceback.
    assert "Traceback" not in capfd.readouterr().err


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    return host, int(port)


def exchange(url: str, data: bytes, *, hang_up: bool = True, wait: float = 5.0) -> bytes:
    """Send ``data``; with ``hang_up`` close our side; read the answer until the server closes."""
    with socket.create_connection(address(url), timeout=wait) as sock:
        sock.sendall(data)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer[9:12])


@pytest.mark.parametrize(
    ("request_line", "code"),
    [
        (b"GET /%00 HTTP/1.1", 400),
        (b"GET /cu130/%00/index.html HTTP/1.1", 400),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1", 414),
        (b"GET /" + b"a" * 300 + b" HTTP/1.1", 404),  # a name longer than the file system allows
        (b"GET /loop/x HTTP/1.1", 404),  # a symlink loop
        (b"GET / HTTP/0.9", 400),
        (b"GET / HTTP/2.0", 505),
        (b"GET / HTTP/banana", 400),
        (b"FOO / HTTP/1.1", 501),
        (b"GET", 400),
        (b"   ", 400),
        (b"GET / HTTP/1.1 extra", 400),
        (b"GET http://[::1/ HTTP/1.1", 400),
        (b"GET /%ff%fe HTTP/1.1", 404),
        (b"GET /cu130/causal-conv1d/?format=%ff HTTP/1.1", 406),
        (b"\r\n\r\nGET /cu130/ HTTP/1.1", 200),  # blank lines before a request are skipped
    ],
)
def test_every_request_gets_an_answer(url: str, request_line: bytes, code: int) -> None:
    answer = exchange(url, request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status(answer) == code


def test_http_09_is_answered_at_once(url: str) -> None:
    # An HTTP/0.9 client sends one line and waits: no headers will follow.
    start = time.monotonic()
    answer = exchange(url, b"GET /\r\n", hang_up=False)
    assert status(answer) == 400 and time.monotonic() - start < 1.0


def test_headers_too_many_or_too_long(url: str) -> None:
    many = b"".join(b"X-%d: y\r\n" % i for i in range(200))
    assert status(exchange(url, b"GET / HTTP/1.1\r\n" + many + b"\r\n")) == 431
    long = b"X: " + b"y" * 70000 + b"\r\n"
    assert status(exchange(url, b"GET / HTTP/1.1\r\n" + long + b"\r\n")) == 431


def test_a_wheel_still_downloads(url: str) -> None:
    path = f"/cu130/causal-conv1d/{WHEEL.replace('+', '%2B')}".encode()
    answer = exchange(url, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status(answer) == 200 and b"\r\n\r\nPK" in answer


def test_idle_connections_are_let_go(root: Path) -> None:
    before = threading.active_count()
    with serving(root, timeout=0.5) as base:
        idle = [socket.create_connection(address(base), timeout=10) for _ in range(50)]
        try:
            deadline = time.monotonic() + 3
            while threading.active_count() < before + 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            held = threading.active_count()
            # The server closes each one: the client reads the end of the stream.
            assert all(s.recv(1) == b"" for s in idle)
            deadline = time.monotonic() + 5
            while threading.active_count() > before + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert held >= before + 50
            assert threading.active_count() <= before + 1  # only the server's own thread
        finally:
            for s in idle:
                s.close()
