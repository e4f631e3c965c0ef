"""matrix.yaml, parsed once into frozen, typed objects.

Every problem is reported as one ConfigError naming the file, the key path and
the bad value, with a "did you mean" hint for near-miss keys. Nothing outside
this module looks at the raw YAML.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wheel_matrix.configuration import strict_yaml, values
from wheel_matrix.errors import ConfigError, did_you_mean, shorten

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MATRIX = REPO_ROOT / "matrix.yaml"

# Every pattern is matched in full (fullmatch): "2.14\n" is not a version.
_RELEASE = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,4}", re.ASCII)
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]", re.ASCII)
# The package version the labels are appended to: a public PEP 440 version, no local part.
_PUBLIC_VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", re.ASCII)
CPU = "cpu"

T = TypeVar("T")


@dataclass(frozen=True)
class Project:
    """The package the wheels are of: pyproject.toml's name, causal_conv1d's __version__."""

    name: str
    version: str


@dataclass(frozen=True)
class TorchRelease:
    minor: str  # "2.14"
    version: str  # "2.14.1", the release built against
    python: tuple[str, ...]
    cuda: tuple[str, ...]
    pypi_cuda: str | None  # CUDA of the plain PyPI wheel; None if PyPI's is CPU-only
    manylinux: str  # "2_28": glibc baseline of torch's Linux wheels; ours must not need more


@dataclass(frozen=True)
class CudaSpec:
    version: str  # "13.0"
    toolkit: str  # "13.0.2"
    image: str
    arch_list: str
    pypi_toolkit: bool


@dataclass(frozen=True)
class Rule:
    """An include/exclude pattern; None matches anything."""

    torch: str | None = None
    compute: str | None = None
    python: str | None = None
    arch: str | None = None


@dataclass(frozen=True)
class Axes:
    torch: tuple[str, ...]
    compute: tuple[str, ...]  # "cpu" or CUDA versions such as "13.0"
    python: tuple[str, ...]
    arch: tuple[str, ...]


@dataclass(frozen=True)
class Matrix:
    source: Path
    project: Project
    test_arch: str  # the one GPU arch of tests and pull-request builds
    axes: Axes
    exclude: tuple[Rule, ...]
    include: tuple[Rule, ...]
    torch_index: str
    torch: Mapping[str, TorchRelease]
    cuda: Mapping[str, CudaSpec]

    def torch_release(self, minor: str) -> TorchRelease:
        try:
            return self.torch[minor]
        except KeyError:
            raise ConfigError(
                self.source, "torch", f"no torch {shorten(minor)}{did_you_mean(minor, self.torch)}"
            ) from None


class _Node:
    """A value in the YAML tree together with where it came from."""

    def __init__(self, source: Path, path: str, value: object) -> None:
        self.source = source
        self.path = path
        self.value = value

    def fail(self, message: str) -> ConfigError:
        return ConfigError(self.source, self.path, message)

    def child(self, key: str | int, value: object) -> _Node:
        if isinstance(key, int):
            step = f"[{key}]"
        else:
            # Version keys contain dots; quote them so the path stays unambiguous.
            key = shorten(key, 40, quote=False)
            name = f'"{key}"' if "." in key else key
            step = f".{name}" if self.path else name
        return _Node(self.source, f"{self.path}{step}", value)

    def mapping(
        self, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict[str, _Node]:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected a mapping, got {_show(self.value)}")
        allowed = required + optional
        out: dict[str, _Node] = {}
        for key, value in self.value.items():
            key_text = str(key)
            if key_text not in allowed:
                hint = did_you_mean(key_text, allowed)
                raise self.child(key_text, value).fail(f"unknown key{hint}")
            out[key_text] = self.child(key_text, value)
        for key in required:
            if key not in out:
                raise self.fail(f"missing required key {key!r}")
        return out

    def table(self) -> dict[str, _Node]:
        """A mapping with free-form keys (torch minors, CUDA versions)."""
        if not isinstance(self.value, dict) or not self.value:
            raise self.fail(f"expected a non-empty mapping, got {_show(self.value)}")
        return {str(k): self.child(str(k), v) for k, v in self.value.items()}

    def items(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {_show(self.value)}")
        return [self.child(i, v) for i, v in enumerate(self.value)]

    def text(self, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        # YAML reads 2.10 as the float 2.1: insist on quotes rather than guess.
        if isinstance(self.value, float):
            raise self.fail(f'{self.value!r} is a number; quote versions, e.g. "{self.value}"')
        if not isinstance(self.value, str | int) or isinstance(self.value, bool):
            raise self.fail(f"expected a string, got {_show(self.value)}")
        text = str(self.value)
        if pattern is not None and not pattern.fullmatch(text):
            raise self.fail(f"{shorten(text)} is not {what}")
        return text

    def checked(self, problem: Callable[[str], str | None]) -> str:
        """A string that ``problem`` (a grammar of ``values``) finds nothing wrong with."""
        text = self.text()
        found = problem(text)
        if found:
            raise self.fail(found)
        return text

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, got {_show(self.value)}")
        return self.value

    def texts(self, pattern: re.Pattern[str] | None = None, what: str = "") -> tuple[str, ...]:
        values = tuple(n.text(pattern, what) for n in self.items())
        if not values:
            raise self.fail("must not be empty")
        return values

    def choice(self, choices: tuple[str, ...]) -> str:
        text = self.text()
        if text not in choices:
            raise self.fail(
                f"{shorten(text)} is not one of {', '.join(choices)}{did_you_mean(text, choices)}"
            )
        return text


def _show(value: object) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {shorten(value)}"


def _optional(nodes: Mapping[str, _Node], key: str, read: Callable[[_Node], T], default: T) -> T:
    return read(nodes[key]) if key in nodes else default


def _torch_release(minor: str, node: _Node) -> TorchRelease:
    fields = node.mapping(("version", "python", "cuda", "manylinux"), ("pypi_cuda",))
    version = fields["version"].text(_RELEASE, "a release such as 2.14.1")
    if not version.startswith(minor + "."):
        raise fields["version"].fail(f"{version!r} is not a {minor} release")
    pypi_cuda = _optional(
        fields, "pypi_cuda", lambda n: n.text(values.MINOR, "a CUDA version"), None
    )
    cuda = fields["cuda"].texts(values.MINOR, "a CUDA version such as 12.6")
    if pypi_cuda is not None and pypi_cuda not in cuda:
        raise fields["pypi_cuda"].fail(
            f"CUDA {pypi_cuda} is not in this release's cuda list ({', '.join(cuda)})"
        )
    return TorchRelease(
        minor=minor,
        version=version,
        python=fields["python"].texts(values.PYTHON, "a Python version such as 3.12"),
        cuda=cuda,
        pypi_cuda=pypi_cuda,
        manylinux=fields["manylinux"].text(re.compile(r"^2_\d+$"), "a glibc tag such as 2_28"),
    )


def _cuda_spec(version: str, node: _Node) -> CudaSpec:
    fields = node.mapping(("toolkit", "image", "arch_list", "pypi_toolkit"))
    toolkit = fields["toolkit"].text(_RELEASE, "a toolkit release such as 13.0.2")
    if not toolkit.startswith(version + "."):
        raise fields["toolkit"].fail(f"{toolkit!r} is not a CUDA {version} toolkit")
    return CudaSpec(
        version=version,
        toolkit=toolkit,
        image=fields["image"].checked(values.image_problem),
        arch_list=fields["arch_list"].checked(values.arch_list_problem),
        pypi_toolkit=fields["pypi_toolkit"].flag(),
    )


def _rule(node: _Node) -> Rule:
    fields = node.mapping((), ("torch", "compute", "python", "arch"))
    if not fields:
        raise node.fail("an empty rule would match every cell")
    values = {key: n.text() for key, n in fields.items()}
    return Rule(**values)


def parse(data: object, source: Path, project: Project | None = None) -> Matrix:
    """Build a Matrix from already-loaded YAML data (kept apart for tests)."""
    root = _Node(source, "", data)
    top = root.mapping(
        ("axes", "torch", "cuda", "test_arch"), ("exclude", "include", "torch_index")
    )
    test_arch = top["test_arch"].text(values.ARCH, "a GPU arch such as 9.0")

    for key in ("torch", "cuda"):
        for version, n in top[key].table().items():
            if not values.MINOR.fullmatch(version):
                raise n.fail(f'{key} keys are versions such as "2.14" or "13.0"')
    torch = {minor: _torch_release(minor, n) for minor, n in top["torch"].table().items()}
    cuda = {version: _cuda_spec(version, n) for version, n in top["cuda"].table().items()}

    ax = top["axes"].mapping(("torch", "compute", "python", "arch"))
    axes = Axes(
        torch=ax["torch"].texts(values.MINOR, "a torch minor such as 2.14"),
        compute=ax["compute"].texts(),
        python=ax["python"].texts(values.PYTHON, "a Python version such as 3.12"),
        arch=tuple(n.choice(values.ARCHES) for n in ax["arch"].items()),
    )
    if not axes.arch:
        raise ax["arch"].fail("must not be empty")
    for name, node in ax.items():
        listed = getattr(axes, name)
        for i, value in enumerate(listed):
            if value in listed[:i]:
                raise node.child(i, value).fail(f"{shorten(value, quote=False)} is listed twice")
    for i, minor in enumerate(axes.torch):
        if minor not in torch:
            raise (
                ax["torch"]
                .child(i, minor)
                .fail(f"torch {minor} has no entry under 'torch'{did_you_mean(minor, torch)}")
            )
    for i, compute in enumerate(axes.compute):
        if compute != CPU and compute not in cuda:
            raise (
                ax["compute"]
                .child(i, compute)
                .fail(
                    f"CUDA {shorten(compute, quote=False)} has no entry under 'cuda'"
                    f"{did_you_mean(compute, cuda)}"
                )
            )
    for minor, release in torch.items():
        for i, version in enumerate(release.cuda):
            if version not in cuda:
                node = top["torch"].child(minor, None).child("cuda", None).child(i, version)
                raise node.fail(
                    f"CUDA {version} has no entry under 'cuda'{did_you_mean(version, cuda)}"
                )

    def rules(key: str) -> tuple[Rule, ...]:
        return tuple(_rule(n) for n in top[key].items()) if key in top else ()

    matrix = Matrix(
        source=source,
        project=project or load_project(),
        test_arch=test_arch,
        axes=axes,
        exclude=rules("exclude"),
        include=rules("include"),
        torch_index=_optional(
            top, "torch_index", lambda n: n.checked(values.url_template_problem), ""
        ),
        torch=torch,
        cuda=cuda,
    )
    for key in ("exclude", "include"):
        for i, rule in enumerate(rules(key)):
            _check_rule(matrix, rule, top[key].child(i, None))
    for i, rule in enumerate(matrix.exclude):
        if not any(_rule_matches(rule, *combo) for combo in _axis_combinations(matrix)):
            raise top["exclude"].child(i, None).fail(
                "matches no cell of the axes (a rule that excludes nothing is a mistake)"
            )
    if not matrix.include and not any(_axis_combinations(matrix, excluded=False)):
        raise root.fail(
            "the axes, the torch releases' support and exclude leave no cell to build"
        )
    return matrix


def _rule_matches(rule: Rule, torch: str, compute: str, python: str, arch: str) -> bool:
    return (
        rule.torch in (None, torch)
        and rule.compute in (None, compute)
        and rule.python in (None, python)
        and rule.arch in (None, arch)
    )


def _axis_combinations(
    matrix: Matrix, excluded: bool = True
) -> Iterator[tuple[str, str, str, str]]:
    """(torch, compute, python, arch) of the axes that the torch releases support; without
    ``excluded``, those the exclude rules leave. (The planner makes cells of them.)"""
    axes = matrix.axes
    for torch, compute, python, arch in itertools.product(
        axes.torch, axes.compute, axes.python, axes.arch
    ):
        release = matrix.torch[torch]
        if (compute != CPU and compute not in release.cuda) or python not in release.python:
            continue
        if excluded or not any(
            _rule_matches(r, torch, compute, python, arch) for r in matrix.exclude
        ):
            yield torch, compute, python, arch


def _check_rule(matrix: Matrix, rule: Rule, node: _Node) -> None:
    """Reject rules that name values the matrix doesn't know (typos never match)."""
    known = {
        "torch": tuple(matrix.torch),
        "compute": (CPU, *matrix.cuda),
        "python": tuple(sorted({p for r in matrix.torch.values() for p in r.python})),
        "arch": values.ARCHES,
    }
    for key, choices in known.items():
        value = getattr(rule, key)
        if value is not None and value not in choices:
            raise node.child(key, value).fail(
                f"unknown {key} {shorten(value)}{did_you_mean(value, choices)}"
            )


def load_project(root: Path = REPO_ROOT) -> Project:
    """The package's name (pyproject.toml) and version (causal_conv1d/__init__.py): the two
    files setuptools reads too, so the wheels and the plan can never name it differently."""
    import tomllib

    pyproject, init = root / "pyproject.toml", root / "causal_conv1d" / "__init__.py"
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
        init_text = init.read_text(encoding="utf-8")
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(pyproject, "project.name", f"cannot read it: {exc}") from None
    found = re.search(r'^__version__\s*=\s*"([^"]+)"', init_text, re.MULTILINE)
    if found is None:
        raise ConfigError(init, "__version__", 'no __version__ = "..." line')
    if not isinstance(name, str) or not _PROJECT_NAME.fullmatch(name):
        raise ConfigError(pyproject, "project.name", f"{shorten(name)} is not a project name")
    if not _PUBLIC_VERSION.fullmatch(found[1]):
        raise ConfigError(
            init, "__version__", f"{shorten(found[1])} is not a release such as 1.7.0"
        )
    return Project(name=name, version=found[1])


def load(path: Path | None = None) -> Matrix:
    """Read and validate matrix.yaml ($WHEEL_MATRIX_FILE, else the repository's own)."""
    source = path or Path(os.environ.get("WHEEL_MATRIX_FILE") or DEFAULT_MATRIX)
    data: Any = strict_yaml.load(source)
    return parse(data, source)
