"""Reading a YAML configuration file that may be hostile: bounded, strict, one-line errors.

Only a regular file is read (a symlink to /dev/zero or a FIFO is refused, not
read until memory runs out), at most ``MAX_BYTES`` of it, as UTF-8. The YAML
is then loaded with PyYAML's safe loader, made stricter: a duplicate key is
an error (YAML would silently keep the last value), aliases are refused (an
alias bomb of a few kilobytes expands to gigabytes), nesting is limited, and
a value that cannot be constructed (a 5000-digit integer, the date
2024-13-45) is an error at its line instead of an exception from inside the
loader. Every problem is one ConfigError naming the file and the line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from wheel_matrix.errors import ConfigError, shorten

MAX_BYTES = 1 << 20  # configuration files are a few kilobytes; 1 MiB is generous
MAX_DEPTH = 32  # matrix.yaml nests four levels deep
_MAX_INT = 10**18  # versions and counts are small; larger is a mistake (or a 5000-digit attack)


def read_text(source: Path, limit: int = MAX_BYTES) -> str:
    """The text of the regular file ``source`` (UTF-8, at most ``limit`` bytes)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ConfigError(source, "", "not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            raise ConfigError(source, "", f"{info.st_size} bytes is more than the {limit} allowed")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise ConfigError(source, "", f"cannot read: {exc.strerror}") from None
    if len(data) > limit:  # it grew while being read
        raise ConfigError(source, "", f"more than the {limit} bytes allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(source, f"line {line}", f"not UTF-8 (byte {exc.start})") from None


class _Refused(yaml.MarkedYAMLError):
    def __init__(self, mark: yaml.Mark | None, problem: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader without the parts that let a small file do large harm."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def _next_mark(self) -> yaml.Mark | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        return getattr(event, "start_mark", None)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _Refused(self._next_mark(), "aliases (*name) are not allowed here")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(self._next_mark(), f"nested deeper than {MAX_DEPTH}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError, LookupError, AttributeError) as exc:
            # int("9" * 5000), date(2024, 13, 45), "!!int" with nothing after it (PyYAML's
            # own constructors fail with these): the value at this node is unusable.
            raise _Refused(node.start_mark, f"bad value: {shorten(str(exc), 80)}") from None

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: dict[Hashable, int] = {}
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    continue  # the base class reports an unhashable key
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _Refused(
                        key_node.start_mark,
                        f"duplicate key {shorten(key)} (first on line {seen[key]})",
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        text = str(node.value)
        if len(text) > 40:
            raise _Refused(node.start_mark, f"number too long ({len(text)} characters)")
        value: int = super().construct_yaml_int(node)
        if abs(value) > _MAX_INT:
            raise _Refused(node.start_mark, f"number too large: {shorten(text)}")
        return value


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)


def parse(text: str, source: Path | str) -> Any:
    """Load YAML text strictly; any problem is a ConfigError naming ``source`` and the line."""
    loader: StrictLoader | None = None
    try:
        loader = StrictLoader(text)  # its reader already refuses unprintable characters
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        shown = shorten(problem, 120, quote=False)
        raise ConfigError(source, where, f"invalid YAML: {shown}") from None
    except RecursionError:  # a backstop: MAX_DEPTH keeps the composer far from the limit
        raise ConfigError(source, "", f"invalid YAML: nested deeper than {MAX_DEPTH}") from None
    finally:
        if loader is not None:
            loader.dispose()


def load(source: Path, limit: int = MAX_BYTES) -> Any:
    """Read and strictly load the YAML file ``source``."""
    return parse(read_text(source, limit), source)
