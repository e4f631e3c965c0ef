"""The container backend: a cell built by cibuildwheel inside its rendered build image.

Plan, then apply. ``plan_container`` decides the image tag, the commands and
the environment as data (unit-tested without an engine), from the plan's
``BuildSpec`` and the two generated files the caller rendered for the cell
(its Dockerfile and cibuildwheel configuration), which must match what is
committed. ``run_container`` builds the image unless that tag exists, stages
the build inputs, runs cibuildwheel and stores the wheel. Inside the
container cibuildwheel compiles once (abi3), repairs with auditwheel as the
host backend does, and runs the smoke test on each of the cell's Pythons;
the checks then run here, on the host. Nothing inside reads matrix.yaml.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix import log, proc
from wheel_matrix.backends.options import BuildOptions, sync_sources
from wheel_matrix.errors import ToolError, UserError
from wheel_matrix.plan import container
from wheel_matrix.plan.decisions import BuildSpec, arch_list, jobs
from wheel_matrix.wheel import check, store


def engine_answers() -> bool:
    """Whether a Docker engine answers here (a client alone is not enough)."""
    try:
        proc.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture=True, quiet=True)
    except ToolError:
        return False
    return True


@dataclass(frozen=True)
class ContainerBuild:
    spec: BuildSpec
    dockerfile: Path
    image: str  # local tag; it names the Dockerfile's hash, so a stale image is never reused
    platform: str
    config: Path  # the cell's cibuildwheel configuration
    project: Path  # staged build inputs; cibuildwheel copies its working folder in
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


def plan_container(
    spec: BuildSpec, options: BuildOptions, rendered: Mapping[str, str], root: Path
) -> ContainerBuild:
    """Decide the container build of ``spec``'s cell.

    ``rendered`` maps the cell's Dockerfile and cibuildwheel configuration
    (paths relative to ``root``) to what they must hold: a stale file is an
    error, never an image built from it.
    """
    cell = spec.cell
    dockerfile = container.dockerfile_path(cell.compute)
    config = container.config_path(cell.id)
    for path in (dockerfile, config):
        on_disk = root / path
        if not on_disk.is_file() or on_disk.read_text(encoding="utf-8") != rendered[path]:
            raise UserError(f"{on_disk} is missing or out of date with matrix.yaml: "
                            "run `nox -s render`")
    env = {
        # The container's compile cache lives in the host's cache folder, across builds.
        "CIBW_CONTAINER_ENGINE": "docker; create_args: "
        + shlex.quote(f"--volume={options.cache / 'ccache' / 'store'}:{container.CCACHE_DIR}"),
        "MAX_JOBS": str(jobs(cell.cuda is not None, options.jobs)),
    }
    if cell.cuda is not None:
        env["TORCH_CUDA_ARCH_LIST"] = arch_list(spec, options.purpose, options.arch_list)
    work = options.cache / "docker" / cell.id
    return ContainerBuild(
        spec=spec,
        dockerfile=root / dockerfile,
        image=container.image_tag(cell.compute, rendered[dockerfile], cell.arch),
        platform=container.PLATFORMS[cell.arch],
        config=root / config,
        project=work / "project",
        output=work / "wheelhouse",
        ccache=options.cache / "ccache" / "store",
        env=env,
        wheels=options.dist / "wheels",
    )


def run_container(build: ContainerBuild, options: BuildOptions) -> store.BuildResult:
    start = time.monotonic()
    cell = build.spec.cell
    with log.step(f"image {build.image} ({build.dockerfile.name}, {build.platform})"):
        try:
            proc.run(build.probe_image, capture=True, quiet=True)
            log.info("    reusing the existing image")
        except ToolError:
            proc.run(build.build_image)
    with log.step("stage the build inputs"):
        # Only the build inputs enter the container: no service code, no matrix.
        shutil.rmtree(build.project, ignore_errors=True)
        sync_sources(options.source, build.project)
        build.ccache.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(build.output, ignore_errors=True)
    with log.step(f"cibuildwheel: {cell.id} (Pythons {', '.join(cell.pythons)})"):
        proc.run(build.cibuildwheel, cwd=build.project, env=dict(build.env))
    found = sorted(build.output.glob("*.whl"))
    if len(found) != 1:
        raise ToolError(
            f"cibuildwheel produced {len(found)} wheels in {build.output}, expected one"
        )
    with log.step("check (metadata, torch pin, abi3, glibc, twine)"):
        check.check_wheel(found[0], cell, release=True)
    return store.store_wheel(found[0], build.wheels, start)
