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

import yaml

from wheel_matrix.errors import ConfigError, did_you_mean

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
DEFAULT_SETTINGS = TEMPLATES / "settings.yaml"

_SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ARCHES = ("x86_64", "aarch64")


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
        raise ConfigError(source, where, f"expected a mapping, got {data!r}")
    out = {str(k): v for k, v in data.items()}
    for key in out:
        if keys and key not in keys:
            raise ConfigError(source, f"{where}.{key}" if where else key,
                              f"unknown key{did_you_mean(key, keys)}")
    for key in keys:
        if key not in out:
            raise ConfigError(source, where, f"missing required key {key!r}")
    return out


def _text(value: object, source: Path, where: str) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(source, where, f"expected a string, got {value!r}")
    return str(value)


def _pythons(value: object, source: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(source, "pythons", f"expected [oldest, newest], got {value!r}")
    versions = tuple(_text(v, source, f"pythons[{i}]") for i, v in enumerate(value))
    for i, version in enumerate(versions):
        if not re.match(r"^3\.\d+$", version):
            raise ConfigError(source, f"pythons[{i}]", f"{version!r} is not a Python such as 3.11")
    return versions


def parse(data: object, source: Path) -> Settings:
    top = _mapping(data, source, "", ("images", "host_gcc", "tools", "runners", "pythons", "nox",
                                       "actions"))
    images = _mapping(top["images"], source, "images", ("manylinux", "digests"))
    manylinux = _mapping(images["manylinux"], source, "images.manylinux", _ARCHES)
    for arch, image in manylinux.items():
        if "@sha256:" not in _text(image, source, f"images.manylinux.{arch}"):
            raise ConfigError(source, f"images.manylinux.{arch}", f"{image!r} has no digest")
    digests = {
        image: _text(d, source, f"images.digests.{image}")
        for image, d in _mapping(images["digests"], source, "images.digests").items()
    }
    for image, digest in digests.items():
        if not _DIGEST.match(digest):
            raise ConfigError(
                source, f"images.digests.{image}", f"{digest!r} is not sha256:<64 hex digits>"
            )
    gcc = _mapping(top["host_gcc"], source, "host_gcc", ("default", "cuda"))
    toolsets = _mapping(gcc["cuda"], source, "host_gcc.cuda")
    actions = {}
    for name, spec in _mapping(top["actions"], source, "actions").items():
        fields = _mapping(spec, source, f"actions.{name}", ("uses", "version"))
        uses = _text(fields["uses"], source, f"actions.{name}.uses")
        if not _SHA_PIN.match(uses):
            raise ConfigError(source, f"actions.{name}.uses", f"{uses!r} is not pinned to a commit")
        actions[name] = Action(uses, _text(fields["version"], source, f"actions.{name}.version"))
    return Settings(
        source=source,
        manylinux={a: str(i) for a, i in manylinux.items()},
        digests=digests,
        gcc_default=int(_text(gcc["default"], source, "host_gcc.default")),
        gcc={v: int(_text(n, source, f"host_gcc.cuda.{v}")) for v, n in toolsets.items()},
        tools={p: _text(v, source, f"tools.{p}") for p, v in
               _mapping(top["tools"], source, "tools").items()},
        runners={a: _text(r, source, f"runners.{a}") for a, r in
                 _mapping(top["runners"], source, "runners", _ARCHES).items()},
        pythons=_pythons(top["pythons"], source),
        nox=_text(top["nox"], source, "nox"),
        actions=actions,
    )


def load(path: Path | None = None) -> Settings:
    source = path or DEFAULT_SETTINGS
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"invalid YAML: {exc}") from None
    return parse(data, source)
