"""The container backend: a cell built by cibuildwheel inside its rendered build image.

Plan, then apply. ``plan_docker`` decides the image tag, the commands and the
environment as data (unit-tested without an engine); ``run_docker`` builds the
image unless that tag exists, stages the build inputs, runs cibuildwheel with
the cell's committed configuration (cibuildwheel/<cell>.toml) and stores the
wheel. Inside the container cibuildwheel compiles once (abi3), repairs with
``python -m wheel_matrix repair`` (the host backend's own repair and checks)
and runs the smoke test on each of the cell's Pythons.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wheel_matrix import build, check, log, model, proc, render
from wheel_matrix import settings as settings_mod
from wheel_matrix.errors import ToolError, UserError
from wheel_matrix.model import Matrix
from wheel_matrix.plan import Cell, cells, find_cell
from wheel_matrix.settings import Settings

if TYPE_CHECKING:
    from wheel_matrix.cli import Subparsers


def engine_answers() -> bool:
    """Whether a Docker engine answers here (a client alone is not enough)."""
    try:
        proc.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture=True, quiet=True)
    except ToolError:
        return False
    return True


@dataclass(frozen=True)
class DockerPlan:
    cell: Cell
    dockerfile: Path
    image: str  # local tag; it names the Dockerfile's hash, so a stale image is never reused
    platform: str
    config: Path  # the cell's cibuildwheel configuration
    project: Path  # staged build inputs; cibuildwheel copies its working folder in
    matrix_file: Path  # staged as project/matrix.yaml for the in-container repair step
    output: Path
    ccache: Path  # host folder behind the container's compile cache
    env: Mapping[str, str]  # for cibuildwheel
    wheels: Path  # the wheel store

    @property
    def probe_image(self) -> list[str]:
        return ["docker", "image", "inspect", "--format", "{{.Id}}", self.image]

    @property
    def build_image(self) -> list[str]:
        # TARGETARCH picks the base stage; BuildKit sets it itself, the legacy builder doesn't.
        arch = self.platform.split("/")[1]
        return [
            "docker", "build", "--platform", self.platform, "--build-arg", f"TARGETARCH={arch}",
            "--tag", self.image, "--file", str(self.dockerfile), str(self.dockerfile.parent),
        ]

    @property
    def cibuildwheel(self) -> list[str]:
        return [
            sys.executable, "-m", "cibuildwheel", "--platform", "linux",
            "--config-file", str(self.config), "--output-dir", str(self.output), ".",
        ]


def plan_docker(
    cell: Cell,
    options: build.BuildOptions,
    matrix: Matrix,
    root: Path = render.REPO_ROOT,
    settings: Settings | None = None,
) -> DockerPlan:
    """Decide the container build of ``cell``; the generated files must be up to date."""
    generated = {g.path: g.text for g in render.render(matrix, settings or settings_mod.load())}
    image = render.image_for(cell, render.images(cells(matrix)))
    config = f"cibuildwheel/{cell.id}.toml"
    for path in (image.dockerfile, config):
        on_disk = root / path
        if not on_disk.is_file() or on_disk.read_text(encoding="utf-8") != generated[path]:
            raise UserError(f"{on_disk} is missing or out of date with {matrix.source.name}: "
                            "run `nox -s render`")
    jobs = options.jobs or int(os.environ.get("MAX_JOBS", "0")) or build.default_jobs(
        cell.cuda is not None
    )
    env = {
        # The container's compile cache lives in the host's cache folder, across builds.
        "CIBW_CONTAINER_ENGINE": "docker; create_args: "
        + shlex.quote(f"--volume={options.cache / 'ccache' / 'store'}:{render.CCACHE_DIR}"),
        "MAX_JOBS": str(jobs),
    }
    arch_list = options.arch_list or os.environ.get("TORCH_CUDA_ARCH_LIST", "")
    if cell.cuda is not None and arch_list:
        env["TORCH_CUDA_ARCH_LIST"] = arch_list  # passed in; the config has the matrix default
    work = options.cache / "docker" / cell.id
    return DockerPlan(
        cell=cell,
        dockerfile=root / image.dockerfile,
        image=render.image_tag(image, generated[image.dockerfile], cell.arch),
        platform=render.DOCKER_PLATFORMS[cell.arch],
        config=root / config,
        project=work / "project",
        matrix_file=matrix.source,
        output=work / "wheelhouse",
        ccache=options.cache / "ccache" / "store",
        env=env,
        wheels=options.dist / "wheels",
    )


def stage_project(plan: DockerPlan, source: Path) -> None:
    """Only the build inputs (and the service, for the repair step) enter the container."""
    build.sync_sources(source, plan.project)
    service = plan.project / "wheel_matrix"
    shutil.rmtree(service, ignore_errors=True)
    shutil.copytree(Path(__file__).resolve().parent, service,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(plan.matrix_file, plan.project / "matrix.yaml")


def run_docker(plan: DockerPlan, options: build.BuildOptions) -> build.BuildResult:
    start = time.monotonic()
    with log.step(f"image {plan.image} ({plan.dockerfile.name}, {plan.platform})"):
        try:
            proc.run(plan.probe_image, capture=True, quiet=True)
            log.info("    reusing the existing image")
        except ToolError:
            proc.run(plan.build_image)
    with log.step("stage the build inputs"):
        stage_project(plan, options.source)
        plan.ccache.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(plan.output, ignore_errors=True)
    with log.step(f"cibuildwheel: {plan.cell.id} (Pythons {', '.join(plan.cell.pythons)})"):
        proc.run(plan.cibuildwheel, cwd=plan.project, env=dict(plan.env))
    found = sorted(plan.output.glob("*.whl"))
    if len(found) != 1:
        raise ToolError(f"cibuildwheel produced {len(found)} wheels in {plan.output}, expected one")
    with log.step("check (metadata, torch pin, abi3, twine)"):
        check.check_wheel(found[0], plan.cell)
    return build.store_wheel(found[0], plan.wheels, start)


def _cmd_repair(args: argparse.Namespace) -> int:
    cell = find_cell(model.load(args.matrix), args.cell)
    if not args.wheel.is_file():
        raise UserError(f"{args.wheel}: no such wheel")
    args.dest.mkdir(parents=True, exist_ok=True)
    wheel = build.repair_and_check(args.wheel, args.dest, cell)
    log.info(f"repaired {wheel.name}")
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "repair",
        help="auditwheel-repair and check one built wheel of a cell (the container's repair step)",
    )
    p.add_argument("--matrix", type=Path, default=None, metavar="FILE",
                   help="matrix file (default: the repository's matrix.yaml)")
    p.add_argument("--cell", required=True, metavar="ID", help="the cell the wheel was built for")
    p.add_argument("--dest", type=Path, required=True, help="folder for the repaired wheel")
    p.add_argument("wheel", type=Path, help="the wheel pip built")
    p.set_defaults(func=_cmd_repair)
