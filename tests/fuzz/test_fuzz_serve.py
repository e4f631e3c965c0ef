"""Fuzzing serve's request path over a real socket: every request line gets an HTTP/1.1 status
line (4xx for garbage; 501/505 for an unknown method or version), never a 500, a dropped
connection or a traceback; and no thread is left behind."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fuzzing import budget, count
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wheel_matrix.index import build_index
from wheel_matrix.index.serve import serving
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.fuzz

WHEEL = "causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl"
BASELINE = threading.active_count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    tmp = tmp_path_factory.mktemp("fuzz-serve")
    build_index([make_wheel(tmp / "w", "causal-conv1d", "1.7.0+cu130torch2.14")], tmp / "index")
    (tmp / "index" / "loop").symlink_to(tmp / "index" / "loop")
    (tmp / "index" / "out").symlink_to("/etc")
    with serving(tmp / "index", timeout=2.0) as url:
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        yield host, int(port)


@pytest.fixture(autouse=True)
def no_traceback(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    assert "Traceback" not in capfd.readouterr().err


WHITESPACE = "\r\n \t\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"  # what splits a request line
KNOWN = ["/", "/cu130/", "/cu130/causal-conv1d/", "/cu130/causal-conv1d",
         f"/cu130/causal-conv1d/{WHEEL.replace('+', '%2B')}", "/channels.json", "/pypi/"]
PATHS = st.one_of(
    st.sampled_from(KNOWN),
    st.sampled_from(["/%00", "/" + "a" * 5000, "/" + "a" * 300, "/loop/x", "/out/passwd",
                     "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd", "*",
                     "http://[::1/", "http://x/cu130/", "/?format=%ff", "/%ff%fe", "/\x7f",
                     "/cu130/causal-conv1d/?format=application/vnd.pypi.simple.v1%2Bjson"]),
    st.text(alphabet=st.characters(codec="latin-1", exclude_characters=WHITESPACE), max_size=300)
    .map(lambda t: "/" + t),
)
# Half the time a method and version that parse, so that paths get explored too.
METHODS = st.one_of(
    st.just("GET"),
    st.just("HEAD"),
    st.sampled_from(["POST", "PUT", "DELETE", "OPTIONS", "CONNECT", "get", "G\x00T"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10),
)
VERSIONS = st.one_of(
    st.just("HTTP/1.1"),
    st.just("HTTP/1.0"),
    st.sampled_from(["HTTP/0.9", "HTTP/2.0", "HTTP/1", "HTTP/1.1.1", "HTTP/x.y", "HTTP/0001.0001",
                     "http/1.1", "HTTP/" + "1" * 20 + ".1", ""]),
    st.text(max_size=12).filter(lambda v: v.strip() == v and " " not in v),
)
HEADERS = st.lists(st.one_of(
    st.sampled_from(["Accept: application/vnd.pypi.simple.v1+json", "Accept: text/html;q=nan",
                     "Accept: */*;q=1e999", "Accept: \xff\xfe", "Accept: ;;;,,,", "Host: x",
                     "Expect: 100-continue", "Content-Length: -1", "Transfer-Encoding: chunked",
                     "Connection: keep-alive", "X: " + "y" * 70000, "no colon here", " folded"]),
    st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=80),
), max_size=5)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    if draw(st.integers(min_value=0, max_value=9)) == 0:  # any bytes, as one line
        line = draw(st.binary(min_size=1, max_size=200).filter(
            lambda b: b"\r" not in b and b"\n" not in b))
    else:
        parts = [draw(METHODS), draw(PATHS), draw(VERSIONS)]
        line = " ".join(p for p in parts if p).encode("utf-8", "surrogatepass")
    headers = [h.encode("latin-1", "replace") for h in draw(HEADERS)]
    return b"\r\n".join([line, *headers, b"Connection: close", b"", b""])


def exchange(address: tuple[str, int], data: bytes) -> tuple[bytes, float]:
    start = time.monotonic()
    with socket.create_connection(address, timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the server answered (431, 414) before reading all of it: read that answer
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer, time.monotonic() - start


ANSWERS = {200, 301, 400, 404, 406, 414, 431, 501, 505}


@settings(max_examples=budget(300), deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(requests())
@example(b"GET /%00 HTTP/1.1\r\n\r\n")
@example(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n")
@example(b"GET /\r\n")
@example(b"GET / HTTP/0.9\r\n\r\n")
@example(b"\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n")
@example(b"   \r\n\r\n")
@example(b"\x00\r\n\r\n")
@example(b"GET /\xc3\xa00 HTTP/0.9\r\nConnection: close\r\n\r\n")
@example(b"HEAD http://x/cu130/ HTTP/1.1\r\nConnection: close\r\n\r\n")
@example(b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\n\r\n")
def test_every_request_line_is_answered(server: tuple[str, int], request: bytes) -> None:
    answer, seconds = exchange(server, request)
    assert answer, f"no answer to {request[:200]!r}"
    while answer.startswith(b"HTTP/1.1 1"):  # an interim answer (100 Continue) comes first
        answer = answer.partition(b"\r\n\r\n")[2]
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    code = int(answer[9:12])
    assert code in ANSWERS, answer[:300]
    valid = request.lstrip(b"\r\n").startswith((b"GET ", b"HEAD "))
    if not valid:
        assert code >= 400, (request[:200], answer[:200])
    assert seconds < 5
    count("serve requests", str(code))


def test_no_thread_is_left_behind(server: tuple[str, int]) -> None:
    # Every fuzzed connection is over; idle ones time out: the server's thread remains.
    deadline = time.monotonic() + 5
    while threading.active_count() > BASELINE + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= BASELINE + 1
