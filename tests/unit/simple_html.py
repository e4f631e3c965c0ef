"""Reading a PEP 503 page back as a browser would, for the tests that check what pages say."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser


@dataclass(frozen=True)
class Anchor:
    """One link of a PEP 503 page, with its data- attributes (already unescaped)."""

    href: str
    text: str
    attrs: tuple[tuple[str, str | None], ...]

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.attrs if k == name), None)

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self.attrs)


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[Anchor] = []
        self.meta: dict[str, str] = {}
        self._open: tuple[tuple[str, str | None], ...] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = tuple(attrs), []
        elif tag == "meta":
            d = dict(attrs)
            if d.get("name") and d.get("content") is not None:
                self.meta[str(d["name"])] = str(d["content"])

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            href = dict(self._open).get("href") or ""
            self.anchors.append(Anchor(href, "".join(self._text).strip(), self._open))
            self._open = None


def parse_html(text: str) -> tuple[list[Anchor], dict[str, str]]:
    """The anchors and ``<meta name=... content=...>`` pairs of a simple page."""
    parser = _AnchorParser()
    parser.feed(text)
    parser.close()
    return parser.anchors, parser.meta
