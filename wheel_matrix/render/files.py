"""Generated files: build images, cibuildwheel configurations and CI workflows.

Everything here is derived from matrix.yaml (through the planner) and
templates/settings.yaml, rendered with Jinja2 under StrictUndefined, and
committed. ``render --check`` names every file that differs from what the
current inputs render, so an edit to matrix.yaml that wasn't rendered fails CI.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wheel_matrix.configuration import settings as settings_mod
from wheel_matrix.configuration.matrix_file import CudaSpec, Matrix
from wheel_matrix.configuration.settings import Settings
from wheel_matrix.errors import UserError
from wheel_matrix.plan import Cell, cells, container
from wheel_matrix.plan.caching import COMPILERS
from wheel_matrix.plan.decisions import BuildSpec, decide, repair_argv
from wheel_matrix.plan.recipes import PYPI_CHANNEL, Recipes, recipes

if TYPE_CHECKING:
    import jinja2

HEADER = "generated from matrix.yaml by nox -s render; do not edit"
REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATED_DIRS = ("docker", "cibuildwheel", ".github/workflows")
GITHUB_MATRIX_LIMIT = 256  # jobs one matrix may expand to in a workflow run


@dataclass(frozen=True)
class Generated:
    path: str  # relative to the repository root, with forward slashes
    text: str


@dataclass(frozen=True)
class Image:
    """One build image: a Dockerfile per CUDA version, and one for the CPU cells."""

    name: str  # "cu130" or "cpu"
    cuda: CudaSpec | None
    cells: tuple[Cell, ...]

    @property
    def dockerfile(self) -> str:
        return container.dockerfile_path(self.name)

    @property
    def pythons(self) -> tuple[str, ...]:
        found = {p for c in self.cells for p in c.pythons}
        return tuple(sorted(found, key=lambda p: tuple(int(x) for x in p.split("."))))


def images(all_cells: Iterable[Cell]) -> tuple[Image, ...]:
    groups: dict[str, list[Cell]] = {}
    specs: dict[str, CudaSpec | None] = {}
    for cell in all_cells:
        groups.setdefault(cell.compute, []).append(cell)
        specs[cell.compute] = cell.cuda
    return tuple(Image(name, specs[name], tuple(groups[name])) for name in sorted(groups))


def python_tag(version: str) -> str:
    return "cp" + version.replace(".", "")


def _toml(value: object) -> str:
    """A TOML literal for a string, integer, list or table (JSON strings are TOML strings)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _environment(templates: Path, *, workflow: bool) -> jinja2.Environment:
    import jinja2  # only render needs it; the build container's service venv has no Jinja2

    # Workflows are full of GitHub's own ${{ ... }}: their templates use << >> and <% %>.
    delimiters = (
        {"variable_start_string": "<<", "variable_end_string": ">>",
         "block_start_string": "<%", "block_end_string": "%>",
         "comment_start_string": "<#", "comment_end_string": "#>"}
        if workflow else {}
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        **delimiters,  # type: ignore[arg-type]
    )
    env.filters["toml"] = _toml
    env.filters["shquote"] = shlex.quote
    env.globals["header"] = HEADER
    return env


def smoke_test(cell: Cell) -> str:
    """The test-command: the installed wheel is this cell's, and its op runs on CPU."""
    code = (
        "import importlib.metadata as m, torch, causal_conv1d; "
        "from causal_conv1d import causal_conv1d_fn; "
        f'v = m.version("{cell.project}"); '
        f'assert v == "{cell.version}", v; '
        "x = torch.randn(2, 8, 16); w = torch.randn(8, 4); "
        "assert causal_conv1d_fn(x, w).shape == x.shape; "
        'print(v, "on torch", torch.__version__)'
    )
    return "python -c " + shlex.quote(code)


def cibuildwheel_options(spec: BuildSpec, image: str) -> dict[str, object]:
    """The [tool.cibuildwheel] values of one cell: one build serves all its Pythons (abi3).

    The plan's decisions travel in it: setup.py's variables, the torch to
    install and what repair leaves out; the arch list, job count and the
    commit's date (SOURCE_DATE_EPOCH) come in from the container backend
    (environment-pass), which decides them like the host backend. The checks
    run on the host afterwards, so nothing inside the container reads matrix.yaml.
    """
    cell = spec.cell
    environment = dict(spec.env)
    environment.update(container.CACHE.env())
    environment["PATH"] = container.CACHE.path("$PATH")
    repair = shlex.join(
        repair_argv(spec, f"{container.TOOLS}/bin/python", "{wheel}", "{dest_dir}")
    )
    return {
        "build": [container.build_selector(p, cell.arch) for p in cell.pythons],
        "archs": [cell.arch],
        "container-engine": "docker",
        f"manylinux-{cell.arch}-image": image,
        "build-frontend": {"name": "pip", "args": ["--no-build-isolation"]},
        "build-verbosity": 1,  # pip -v: ninja's [n/N] lines, for progress and failure tails
        "environment": environment,
        # The pip variables point every install at a mounted wheelhouse when the
        # container runs without a network (--local-base); unset, nothing passes.
        "environment-pass": [
            "MAX_JOBS", "TORCH_CUDA_ARCH_LIST", "CCACHE_STATSLOG", "SOURCE_DATE_EPOCH",
            *container.OFFLINE_PIP,
        ],
        "before-build": shlex.join(["pip", "install", *spec.build_tools, *spec.torch_install]),
        "repair-wheel-command": repair,
        "before-test": shlex.join(["pip", "install", *spec.torch_install]),
        "test-command": smoke_test(cell),
        # The checks after the build run abi3audit (strict) on the host; cibuildwheel's
        # own audit would first download a virtualenv release to install it into.
        "audit-command": "",
    }


def _dockerfile(env: jinja2.Environment, image: Image, settings: Settings) -> str:
    cuda = image.cuda
    return env.get_template("Dockerfile.j2").render(
        image=image,
        cuda=cuda,
        cuda_image=settings.pinned_image(cuda.image) if cuda else "",
        cuda_digest_missing=cuda is not None and cuda.image not in settings.digests,
        manylinux=settings.manylinux,
        gcc=settings.host_gcc(cuda.version if cuda else None),
        gcc_default=settings.gcc_default,
        python_tags=[python_tag(p) for p in image.pythons],
        tools=sorted(settings.tools.items()),
        tools_venv=container.TOOLS,
        tools_python=container.TOOLS_PYTHON,
        cache=container.CACHE,
        compilers=COMPILERS,
    )


def pr_specs(specs: Sequence[BuildSpec]) -> tuple[BuildSpec, ...]:
    """The PR build: the newest torch's CPU and newest-CUDA cells, on each arch."""
    newest = specs[0].cell.torch.minor  # cells() is newest first
    picked: dict[tuple[str, bool], BuildSpec] = {}
    for spec in specs:
        if spec.cell.torch.minor == newest:
            picked.setdefault((spec.cell.arch, spec.cell.cuda is None), spec)
    return tuple(picked.values())


def _workflow_cell(spec: BuildSpec, settings: Settings) -> dict[str, str]:
    return {
        "id": spec.cell.id,
        "runner": settings.runners[spec.cell.arch],
        # PR builds compile for one GPU arch: it proves the build, not the arch list.
        "arch_list": spec.arch_lists["pull-request"],
    }


README = "README.md"
RECIPES_START = "<!-- recipes: generated from matrix.yaml by nox -s render; do not edit -->"
RECIPES_END = "<!-- /recipes -->"
EXAMPLE_BASE = "https://example.org/"


def newest_pypi_recipes(all_cells: Sequence[Cell], torch_index: str, base_url: str) -> Recipes:
    """Every client's recipe for the newest torch from PyPI: what the README shows."""
    newest = all_cells[0].torch  # cells() is newest first
    pypi = [c for c in all_cells if c.torch == newest and c.pypi_build]
    arches = [c.arch for c in pypi]
    return recipes(
        base_url, PYPI_CHANNEL, newest.minor, pypi[0].version, arches, torch_index, pypi[0].project
    )


def readme_recipes(all_cells: Sequence[Cell], torch_index: str) -> str:
    """The README's install section, from ``newest_pypi_recipes``."""
    found = newest_pypi_recipes(all_cells, torch_index, EXAMPLE_BASE)
    lines = [RECIPES_START, ""]
    for recipe in found.items:
        lines += [f"**{recipe.title}**", ""]
        for i, (kind, path, text) in enumerate(recipe.steps):
            if kind == "run":
                # Commands in a row share one block.
                if i and recipe.steps[i - 1][0] == "run":
                    lines[-2:-1] = [text, "```"]
                else:
                    lines += ["```sh", text, "```", ""]
            else:
                verb = "Add to" if kind == "append" else "Write"
                fence = "toml" if path.endswith(".toml") else "text"
                lines += [f"{verb} `{path}`:", "", f"```{fence}", text.rstrip(), "```", ""]
    lines.append(RECIPES_END)
    return "\n".join(lines)


def with_recipes(readme: str, section: str) -> str:
    """``readme`` with its generated recipes section replaced by ``section``."""
    start, end = readme.find(RECIPES_START), readme.find(RECIPES_END)
    if start < 0 or end < start:
        raise UserError(f"{README} has no {RECIPES_START!r} ... {RECIPES_END!r} section")
    return readme[:start] + section + readme[end + len(RECIPES_END) :]


def render(
    matrix: Matrix,
    settings: Settings,
    templates: Path | None = None,
    readme: str | None = None,
) -> tuple[Generated, ...]:
    """Every generated file, as text, in a stable order.

    ``readme``, the README's current text, gets its install recipes section
    regenerated (the rest of it is written by hand).
    """
    folder = templates or settings_mod.TEMPLATES
    all_cells = cells(matrix)
    if len(all_cells) > GITHUB_MATRIX_LIMIT:
        raise UserError(
            f"{matrix.source}: the release workflow would have {len(all_cells)} build jobs, over "
            f"GitHub's {GITHUB_MATRIX_LIMIT} per matrix; exclude cells or split the release"
        )
    plain = _environment(folder, workflow=False)
    out: list[Generated] = []
    texts: dict[str, str] = {}
    all_images = images(all_cells)
    for image in all_images:
        texts[image.name] = _dockerfile(plain, image, settings)
        out.append(Generated(image.dockerfile, texts[image.name]))
    specs = [decide(cell, matrix.torch_index, matrix.test_arch) for cell in all_cells]
    for spec in specs:
        cell = spec.cell
        tag = container.image_tag(cell.compute, texts[cell.compute], cell.arch)
        out.append(
            Generated(
                container.config_path(cell.id),
                plain.get_template("cibuildwheel.toml.j2").render(
                    cell=cell,
                    dockerfile=container.dockerfile_path(cell.compute),
                    options=cibuildwheel_options(spec, tag),
                ),
            )
        )
    flows = _environment(folder, workflow=True)
    context = {
        "actions": settings.actions,
        "python": settings.pythons[0],
        "pythons": settings.pythons,
        "nox": settings.nox,
    }
    out.append(
        Generated(
            ".github/workflows/ci.yml",
            flows.get_template("ci.yml.j2").render(
                cells=[_workflow_cell(s, settings) for s in pr_specs(specs)], **context
            ),
        )
    )
    out.append(
        Generated(
            ".github/workflows/release.yml",
            flows.get_template("release.yml.j2").render(
                cells=[_workflow_cell(s, settings) for s in specs], **context
            ),
        )
    )
    out.append(
        Generated(
            ".github/workflows/sync-torch.yml",
            flows.get_template("sync-torch.yml.j2").render(**context),
        )
    )
    if readme is not None:
        section = readme_recipes(all_cells, matrix.torch_index)
        out.append(Generated(README, with_recipes(readme, section)))
    return tuple(out)


def read_readme(root: Path) -> str | None:
    path = root / README
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _generated_on_disk(root: Path) -> set[str]:
    """Files under the generated folders that carry the header (others are left alone)."""
    found: set[str] = set()
    for folder in GENERATED_DIRS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in (p for p in base.rglob("*") if p.is_file()):
            if HEADER in path.read_text(encoding="utf-8", errors="replace")[:300]:
                found.add(path.relative_to(root).as_posix())
    return found


def drift(root: Path, generated: Sequence[Generated]) -> list[str]:
    """One line per file that differs from what the inputs render: changed, missing or stale."""
    problems: list[str] = []
    wanted = {g.path for g in generated}
    for g in generated:
        path = root / g.path
        if not path.is_file():
            problems.append(f"{g.path}: missing")
        elif path.read_text(encoding="utf-8") != g.text:
            problems.append(f"{g.path}: differs from what matrix.yaml renders")
    for stale in sorted(_generated_on_disk(root) - wanted):
        problems.append(f"{stale}: no longer generated (stale)")
    return problems


def write(root: Path, generated: Sequence[Generated]) -> list[str]:
    """Write what changed and delete stale generated files; return the paths touched."""
    touched: list[str] = []
    wanted = {g.path for g in generated}
    for g in generated:
        path = root / g.path
        if path.is_file() and path.read_text(encoding="utf-8") == g.text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(g.text, encoding="utf-8")
        touched.append(g.path)
    for stale in sorted(_generated_on_disk(root) - wanted):
        (root / stale).unlink()
        touched.append(stale)
    return touched
