"""templates/settings.yaml: pinned images, host compilers, CI runners and actions.

What gets built is matrix.yaml's business; this file holds how the generated
files build it. Parsed once into frozen objects, with the same one-line
errors as the matrix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wheel_matrix.configuration import strict_yaml, values
from wheel_matrix.errors import ConfigError, did_you_mean, shorten

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
DEFAULT_SETTINGS = TEMPLATES / "settings.yaml"

# Every value reaches a Dockerfile or a workflow: each is matched in full against its grammar.
_SHA_PIN = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_GCC = re.compile(r"\d{1,3}", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?", re.ASCII)
_VERSION = re.compile(r"\d{1,8}(?:\.\d{1,8}){0,5}(?:(?:a|b|rc|\.post|\.dev)\d{1,8})*", re.ASCII)
_TAG = re.compile(r"v?\d{1,8}(?:\.\d{1,8}){0,5}(?:[-.][A-Za-z0-9]{1,20})?", re.ASCII)


@dataclass(frozen=True)
class Action:
    uses: str  # owner/name@<commit sha>
    version: str  # the release that commit is, for people and update bots


@dataclass(frozen=True)
class Settings:
    source: Path
    manylinux: Mapping[str, str]  # arch -> pinned manylinux_2_28 image
    digests: Mapping[str, str]  # CUDA devel image -> sha256 digest
    gcc_default: int
    gcc: Mapping[str, int]  # CUDA version -> gcc-toolset major
    tools: Mapping[str, str]  # package -> exact version
    runners: Mapping[str, str]  # arch -> GitHub runner label
    pythons: tuple[str, ...]  # the service's oldest and newest Python; CI runs nox on the first
    nox: str
    actions: Mapping[str, Action]

    def pinned_image(self, image: str) -> str:
        digest = self.digests.get(image)
        return f"{image}@{digest}" if digest else image

    def host_gcc(self, cuda_version: str | None) -> int:
        if cuda_version is None:
            return self.gcc_default
        return self.gcc.get(cuda_version, self.gcc_default)

def _mapping(data: object, source: Path, where: str, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(source, where, f"expected a mapping, got {shorten(data)}")
    out = {str(k): v for k, v in data.items()}
    for key in out:
        if keys and key not in keys:
            shown = shorten(key, 40, quote=False)
            raise ConfigError(source, f"{where}.{shown}" if where else shown,
                              f"unknown key{did_you_mean(key, keys)}")
    for key in keys:
        if key not in out:
            raise ConfigError(source, where, f"missing required key {key!r}")
    return out


def _text(value: object, source: Path, where: str, pattern: re.Pattern[str] | None = None,
          what: str = "") -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(source, where, f"expected a string, got {shorten(value)}")
    text = str(value)
    if pattern is not None and not pattern.fullmatch(text):
        raise ConfigError(source, where, f"{shorten(text)} is not {what}")
    return text


def _image(value: object, source: Path, where: str) -> str:
    text = _text(value, source, where)
    problem = values.image_problem(text)
    if problem:
        raise ConfigError(source, where, problem)
    return text


def _pythons(value: object, source: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(source, "pythons", f"expected [oldest, newest], got {shorten(value)}")
    return tuple(
        _text(v, source, f"pythons[{i}]", values.PYTHON, "a Python such as 3.11")
        for i, v in enumerate(value)
    )


def parse(data: object, source: Path) -> Settings:
    top = _mapping(data, source, "", ("images", "host_gcc", "tools", "runners", "pythons", "nox",
                                       "actions"))
    images = _mapping(top["images"], source, "images", ("manylinux", "digests"))
    manylinux = {
        arch: _image(image, source, f"images.manylinux.{arch}")
        for arch, image in
        _mapping(images["manylinux"], source, "images.manylinux", values.ARCHES).items()
    }
    for arch, image in manylinux.items():
        if "@sha256:" not in image:
            raise ConfigError(source, f"images.manylinux.{arch}", f"{shorten(image)} has no digest")
    digests = {
        _image(image, source, f"images.digests.{shorten(image, 40, quote=False)}"): _text(
            d, source, f"images.digests.{image}", _DIGEST, "sha256:<64 hex digits>"
        )
        for image, d in _mapping(images["digests"], source, "images.digests").items()
    }
    gcc = _mapping(top["host_gcc"], source, "host_gcc", ("default", "cuda"))
    toolsets = {
        _text(v, source, "host_gcc.cuda", values.MINOR, "a CUDA version such as 12.6"): int(
            _text(n, source, f"host_gcc.cuda.{v}", _GCC, "a gcc-toolset major such as 13")
        )
        for v, n in _mapping(gcc["cuda"], source, "host_gcc.cuda").items()
    }
    actions = {}
    for name, spec in _mapping(top["actions"], source, "actions").items():
        where = f"actions.{shorten(name, 40, quote=False)}"
        _text(name, source, where, _NAME, "an action name such as setup-python")
        fields = _mapping(spec, source, where, ("uses", "version"))
        uses = _text(fields["uses"], source, f"{where}.uses", _SHA_PIN, "pinned to a commit")
        version = _text(fields["version"], source, f"{where}.version", _TAG, "a tag such as v5.0.0")
        actions[name] = Action(uses, version)
    tools = {
        _text(p, source, "tools", _NAME, "a package name"): _text(
            v, source, f"tools.{p}", _VERSION, "an exact version such as 6.8.2"
        )
        for p, v in _mapping(top["tools"], source, "tools").items()
    }
    return Settings(
        source=source,
        manylinux=manylinux,
        digests=digests,
        gcc_default=int(
            _text(gcc["default"], source, "host_gcc.default", _GCC, "a gcc-toolset major")
        ),
        gcc=toolsets,
        tools=tools,
        runners={a: _text(r, source, f"runners.{a}", _NAME, "a runner label") for a, r in
                 _mapping(top["runners"], source, "runners", values.ARCHES).items()},
        pythons=_pythons(top["pythons"], source),
        nox=_text(top["nox"], source, "nox", _VERSION, "a version such as 2025.2.9"),
        actions=actions,
    )


def load(path: Path | None = None) -> Settings:
    source = path or DEFAULT_SETTINGS
    return parse(strict_yaml.load(source), source)
