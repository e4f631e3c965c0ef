"""``serve``: the index folder over HTTP on 127.0.0.1, with PEP 691 negotiation.

A folder URL that has both ``index.json`` and ``index.html`` answers with
whichever the ``Accept`` header prefers (or a ``?format=`` query, as PEP 691
suggests); static hosts, which cannot do this, serve ``index.html`` there and
``index.json`` at its explicit URL.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from wheel_matrix.index import http
from wheel_matrix.index.pages import HTML_V1, JSON_V1, PAGE_HTML, PAGE_JSON

# Server preference when the client likes several equally: JSON is cheaper to parse.
_OFFERS = (JSON_V1, HTML_V1, "text/html")
# An idle connection is closed after this many seconds (each holds a thread).
IDLE_TIMEOUT = 30.0
# Longer paths than any page or wheel of an index has are refused unread (414).
MAX_PATH = 1024
# Blank lines a client may send before its request line (RFC 9112, section 2.2).
_BLANK_LINES = 8


def _accept(header: str) -> list[tuple[str, float]]:
    out = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        out.append((fields[0].lower(), q))
    return out


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None if the client accepts none we offer."""
    if not accept:
        return "text/html"
    ranges = _accept(accept)
    best: tuple[float, int, str] | None = None
    for rank, offer in enumerate(_OFFERS):
        major = offer.split("/")[0]
        # The most specific matching range decides the q of an offer (RFC 9110).
        q = next((q for r, q in ranges if r == offer), None)
        if q is None:
            q = next((q for r, q in ranges if r == f"{major}/*"), None)
        if q is None:
            q = next((q for r, q in ranges if r == "*/*"), None)
        if q is not None and q > 0 and (best is None or (q, -rank) > (best[0], best[1])):
            best = (q, -rank, offer)
    return best[2] if best else None


class _Handler(BaseHTTPRequestHandler):
    root: Path
    # (path, content type, body bytes) per request when set: what a client fetched.
    record: list[tuple[str, str, int]] | None = None
    server_version = "wheel-matrix-index"
    protocol_version = "HTTP/1.1"
    # Errors found before the request line's version is known still get a status line.
    default_request_version = "HTTP/1.0"
    timeout = IDLE_TIMEOUT  # socket timeout: an idle or slow client is let go
    raw_requestline: bytes

    def log_message(self, format: str, *args: object) -> None:
        if os.environ.get("WHEEL_MATRIX_SERVE_LOG"):
            super().log_message(format, *args)

    def parse_request(self) -> bool:
        """The standard parsing, less its silences: blank lines before a request are skipped
        (then the request is read), and a blank or HTTP/0.9 request line gets a 400 at once
        instead of no answer (the standard one waits for headers HTTP/0.9 never sends)."""
        for _ in range(_BLANK_LINES):
            if self.raw_requestline not in (b"\r\n", b"\n"):
                break
            self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:  # the client left without asking anything
            self.close_connection = True
            return False
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = line.split()
        if len(self.raw_requestline) > 65536:
            self._early_error(line[:100], HTTPStatus.REQUEST_URI_TOO_LONG, "")
            return False
        if len(words) in (0, 2):
            what = "an empty request line" if not words else "HTTP/0.9 requests are not served"
            self._early_error(line, HTTPStatus.BAD_REQUEST, what)
            return False
        if not super().parse_request():
            return False
        major = self.request_version.partition("/")[2].partition(".")[0]
        if int(major) < 1:  # "GET / HTTP/0.9": answered in HTTP/1.1, not with a bare body
            self._early_error(line, HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not served")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The standard parser has set HTTP/0.9 by the time some of its errors are sent
        # ("GET /a\xa0b HTTP/0.9" splits into four words), and in HTTP/0.9 an error is a
        # bare page without its status line. This server speaks HTTP/1.x only.
        if self.request_version == "HTTP/0.9":
            self.request_version, self.close_connection = "HTTP/1.0", True
        super().send_error(code, message, explain)

    def _early_error(self, line: str, status: HTTPStatus, message: str) -> None:
        self.command, self.requestline = "", line
        self.request_version = self.protocol_version
        self.close_connection = True
        self.send_error(status, message or None)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        try:
            self._respond(body)
        except (ConnectionError, TimeoutError):
            raise
        except Exception:  # a bug: still an answer, and the traceback in the server's log
            self.close_connection = True
            self.log_error("error answering %r", self.path)
            import traceback

            traceback.print_exc()
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, body)

    def _send(self, status: int, ctype: str, data: bytes, body: bool, cache: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if cache:
            self.send_header("Cache-Control", cache)
        self.send_header("Vary", "Accept")
        self.end_headers()
        if body:
            self.wfile.write(data)
        if self.record is not None:
            self.record.append((self.path, ctype, len(data) if body else 0))

    def _error(self, status: HTTPStatus, body: bool) -> None:
        self._send(status, "text/plain; charset=utf-8", f"{status.phrase}\n".encode(), body)

    def _respond(self, body: bool) -> None:
        try:
            parts = urlsplit(self.path)
        except ValueError:  # e.g. http://[::1/ (an unclosed IPv6 host)
            return self._error(HTTPStatus.BAD_REQUEST, body)
        if len(parts.path) > MAX_PATH:
            return self._error(HTTPStatus.REQUEST_URI_TOO_LONG, body)
        relpath = unquote(parts.path).lstrip("/")
        if "\0" in relpath:
            return self._error(HTTPStatus.BAD_REQUEST, body)
        try:
            target = (self.root / relpath).resolve()
            inside = target == self.root or self.root in target.parents
            is_dir = inside and target.is_dir()
            found = is_dir or (inside and target.is_file())
        except (OSError, RuntimeError):  # a name too long, a symlink loop
            found = is_dir = False
        if not found:
            return self._error(HTTPStatus.NOT_FOUND, body)
        if is_dir:
            if not parts.path.endswith("/"):
                # Relative hrefs on the page only resolve under the slash form.
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", parts.path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._page(target, relpath, parse_qs(parts.query), body)
        try:
            data = target.read_bytes()
        except OSError:
            return self._error(HTTPStatus.NOT_FOUND, body)
        return self._send(
            HTTPStatus.OK, http.content_type(relpath), data, body, http.cache_control(relpath)
        )

    def _page(self, folder: Path, relpath: str, query: dict[str, list[str]], body: bool) -> None:
        has_json = (folder / PAGE_JSON).is_file()
        has_html = (folder / PAGE_HTML).is_file()
        if not has_html:
            return self._error(HTTPStatus.NOT_FOUND, body)
        if not has_json:  # the landing page: plain HTML, nothing to negotiate
            return self._send(
                HTTPStatus.OK, http.HTML, (folder / PAGE_HTML).read_bytes(), body, http.CACHE_PAGE
            )
        wanted = query.get("format", [None])[0] or self.headers.get("Accept")
        chosen = negotiate(wanted)
        if chosen is None:
            return self._error(HTTPStatus.NOT_ACCEPTABLE, body)
        page = folder / (PAGE_JSON if chosen == JSON_V1 else PAGE_HTML)
        ctype = http.HTML if chosen == "text/html" else chosen
        return self._send(HTTPStatus.OK, ctype, page.read_bytes(), body, http.CACHE_PAGE)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of connections (1 s client retries)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        """Close gently: after the answer, read what the client is still sending (a refused
        request's rest) for a moment, so the close sends no reset that could destroy the
        answer on its way."""
        try:
            request.shutdown(socket.SHUT_WR)
            request.settimeout(0.5)
            drained = 0
            while drained < 1 << 20 and (chunk := request.recv(65536)):
                drained += len(chunk)
        except OSError:
            pass
        self.close_request(request)

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        # An installer that drops a connection it no longer needs is not an error, nor is a
        # client that went quiet past the idle timeout.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def make_server(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    record: list[tuple[str, str, int]] | None = None,
    timeout: float = IDLE_TIMEOUT,
) -> ThreadingHTTPServer:
    """A server of ``root``; a connection idle for ``timeout`` seconds is closed."""
    attrs = {"root": root.resolve(), "record": record, "timeout": timeout}
    handler = type("IndexHandler", (_Handler,), attrs)
    return _Server((host, port), handler)


def base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/"


@contextlib.contextmanager
def serving(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    record: list[tuple[str, str, int]] | None = None,
    timeout: float = IDLE_TIMEOUT,
) -> Iterator[str]:
    """Serve ``root`` in a background thread; yields the base URL (port 0: any free one).

    With ``record``, each request's path, content type and body size is appended to it.
    """
    server = make_server(root, host, port, record, timeout)
    # A short poll: shutting down waits for one, and tests start and stop many servers.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield base_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
