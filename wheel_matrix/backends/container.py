"""The container backend: a cell built by cibuildwheel inside its rendered build image.

Plan, then apply. ``plan_container`` decides the image tag, the commands and
the environment as data (unit-tested without an engine), from the plan's
``BuildSpec`` and the two generated files the caller rendered for the cell
(its Dockerfile and cibuildwheel configuration), which must match what is
committed. ``run_container`` builds the image unless that tag exists, stages
the build inputs, runs cibuildwheel and stores the wheel. Inside the
container cibuildwheel compiles once (abi3), repairs with auditwheel as the
host backend does, and runs the smoke test on each of the cell's Pythons;
the build information is added and the archive written canonically here, on
the host (as for the host backend), and the checks run here. The compile
gets SOURCE_DATE_EPOCH, the commit's date. Nothing inside reads matrix.yaml.

With ``--local-base`` the same Dockerfile builds on base images made on this
machine (``local_base``), and cibuildwheel's container has no network: pip
installs from a wheelhouse prepared beforehand and mounted read-only.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wheel_matrix import locks, log, proc
from wheel_matrix.backends import engine, provenance, source
from wheel_matrix.backends.host import compile_progress
from wheel_matrix.backends.local_base import LocalBase
from wheel_matrix.backends.options import BuildOptions, sync_sources
from wheel_matrix.errors import ToolError, UserError
from wheel_matrix.plan import container
from wheel_matrix.plan.decisions import BuildSpec, arch_list, jobs
from wheel_matrix.wheel import check, reproducible, store

STATS_LOGS = "stats-logs"  # below the compile cache's folder: one log per cell's build


@dataclass(frozen=True)
class ContainerBuild:
    spec: BuildSpec
    client: str  # the docker client
    dockerfile: Path
    image: str  # local tag; it names the Dockerfile's hash, so a stale image is never reused
    platform: str
    config: Path  # the cell's cibuildwheel configuration
    project: Path  # staged build inputs; cibuildwheel copies its working folder in
    output: Path
    ccache: Path  # host folder behind the container's compile cache
    env: Mapping[str, str]  # for cibuildwheel
    wheels: Path  # the wheel store
    build_args: Mapping[str, str] = field(default_factory=dict)  # the Dockerfile's ARGs
    local: LocalBase | None = None

    @property
    def build_image(self) -> list[str]:
        # TARGETARCH picks the base stage; BuildKit sets it itself, the legacy builder doesn't.
        arch = self.platform.split("/")[1]
        args = {"TARGETARCH": arch, **self.build_args}
        return [
            self.client, "build",
            # Local images are made with the host's network (the daemon has no bridge).
            *(["--network=host"] if self.local else []),
            "--platform", self.platform,
            *(arg for name, value in args.items() for arg in ("--build-arg", f"{name}={value}")),
            "--tag", self.image, "--file", str(self.dockerfile), str(self.dockerfile.parent),
        ]

    @property
    def probe_toolchain(self) -> list[str]:
        """Asks the image for the versions of the compiler, nvcc and auditwheel it holds."""
        return [
            self.client, "run", "--rm", "--network=none", "--platform", self.platform,
            self.image, "sh", "-c", provenance.probe_script(f"{container.TOOLS}/bin/python"),
        ]

    @property
    def cibuildwheel(self) -> list[str]:
        return [
            sys.executable, "-m", "cibuildwheel", "--platform", "linux",
            "--config-file", str(self.config), "--output-dir", str(self.output), ".",
        ]


def plan_container(
    spec: BuildSpec,
    options: BuildOptions,
    rendered: Mapping[str, str],
    root: Path,
    local: LocalBase | None = None,
) -> ContainerBuild:
    """Decide the container build of ``spec``'s cell.

    ``rendered`` maps the cell's Dockerfile and cibuildwheel configuration
    (paths relative to ``root``) to what they must hold: a stale file is an
    error, never an image built from it. ``local`` swaps the release base
    images for ones made here and takes the network away from the compile.
    """
    cell = spec.cell
    dockerfile = container.dockerfile_path(cell.compute)
    config = container.config_path(cell.id)
    for path in (dockerfile, config):
        on_disk = root / path
        if not on_disk.is_file() or on_disk.read_text(encoding="utf-8") != rendered[path]:
            raise UserError(f"{on_disk} is missing or out of date with matrix.yaml: "
                            "run `nox -s render`")
    ccache = options.ccache_store or options.cache / "ccache" / "store"
    # The container's compile cache lives in the host's cache folder, across builds.
    create_args = [f"--volume={ccache}:{container.CCACHE_DIR}"]
    env = {
        "MAX_JOBS": str(jobs(cell.cuda is not None, options.jobs)),
        # This build's own cache counters (the store's are shared with other builds).
        "CCACHE_STATSLOG": f"{container.CCACHE_DIR}/{STATS_LOGS}/{cell.id}.log",
    }
    if cell.cuda is not None:
        env["TORCH_CUDA_ARCH_LIST"] = arch_list(spec, options.purpose, options.arch_list)
    build_args: dict[str, str] = {}
    bases: tuple[str, ...] = ()
    if local is not None:
        build_args = {"BASE": "local", "LOCAL_BASE": local.base}
        if local.cuda is not None:
            build_args["CUDA_IMAGE"] = local.cuda
        bases = tuple(build_args.values())
        create_args = [
            "--network=none",
            *create_args,
            f"--volume={local.wheelhouse}:{container.WHEELHOUSE}:ro",
        ]
        env.update({
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": container.WHEELHOUSE,
            # The Pythons the local base carries; the release image has all of the cell's.
            "CIBW_BUILD": " ".join(container.build_selector(p, cell.arch) for p in local.pythons),
        })
    image = container.image_tag(cell.compute, rendered[dockerfile], cell.arch, bases)
    if local is not None:
        env[f"CIBW_MANYLINUX_{cell.arch.upper()}_IMAGE"] = image
    env["CIBW_CONTAINER_ENGINE"] = "docker; create_args: " + shlex.join(create_args)
    work = options.cache / "docker" / cell.id
    return ContainerBuild(
        spec=spec,
        client=engine.client(),
        dockerfile=root / dockerfile,
        image=image,
        platform=container.PLATFORMS[cell.arch],
        config=root / config,
        project=work / "project",
        output=work / "wheelhouse",
        ccache=ccache,
        env=env,
        wheels=options.dist / "wheels",
        build_args=build_args,
        local=local,
    )


def run_container(build: ContainerBuild, options: BuildOptions) -> store.BuildResult:
    """Apply ``build``; a second build of the same cell fails at once instead of clobbering."""
    work = build.project.parent
    work.parent.mkdir(parents=True, exist_ok=True)
    lock = work.parent / f".{work.name}.lock"
    with locks.exclusive(lock, what=f"build of {build.spec.cell.id}", timeout=0):
        return _run_container(build, options)


def _run_container(build: ContainerBuild, options: BuildOptions) -> store.BuildResult:
    start = time.monotonic()
    cell = build.spec.cell
    with log.step(f"image {build.image} ({build.dockerfile.name}, {build.platform})"):
        if engine.image_id(build.image) is not None:
            log.info("    reusing the existing image")
        else:
            engine.run(build.build_image, env={"DOCKER_BUILDKIT": "1"})
            engine.remove_superseded(build.image)
    final = build.project.parent / "final"
    state = source.state(options.source)
    with log.step("stage the build inputs"):
        provenance.report_source(state)
        # Only the build inputs enter the container: no service code, no matrix.
        shutil.rmtree(build.project, ignore_errors=True)
        sync_sources(options.source, build.project)
        build.ccache.mkdir(parents=True, exist_ok=True)
        for folder in (build.output, final):
            shutil.rmtree(folder, ignore_errors=True)
    pythons = build.local.pythons if build.local else cell.pythons
    stats_log = build.ccache / STATS_LOGS / f"{cell.id}.log"
    stats_log.parent.mkdir(parents=True, exist_ok=True)
    stats_log.unlink(missing_ok=True)
    progress = CibuildwheelProgress()
    network = ", no network" if build.local else ""
    with log.step(f"cibuildwheel: {cell.id} (Pythons {', '.join(pythons)}{network})"):
        env = {**build.env, "SOURCE_DATE_EPOCH": str(state.epoch)}
        engine.run(build.cibuildwheel, cwd=build.project, env=env, on_line=progress.line)
        hits = ccache_log_stats(options.ccache, stats_log)
        log.info(f"    compile {log.format_duration(progress.compile_seconds)}"
                 + (f"; ccache: {hits}" if hits else ""))
    found = sorted(build.output.glob("*.whl"))
    if len(found) != 1:
        raise ToolError(
            f"cibuildwheel produced {len(found)} wheels in {build.output}, expected one"
        )
    with log.step("build information, canonical archive"):
        banners = proc.run(build.probe_toolchain, capture=True, quiet=True)
        tools = provenance.image_toolchain(build.spec, banners)
        arches = build.env.get("TORCH_CUDA_ARCH_LIST", "")
        info = provenance.build_info(build.spec, arches, state, tools)
        wheel = reproducible.finalize(found[0], info, final)
    with log.step("check (metadata, torch pin, abi3, glibc, twine)"):
        # Local bases carry this machine's glibc: such wheels are for testing.
        check.check_wheel(wheel, cell, release=build.local is None)
    result = store.store_wheel(wheel, build.wheels, start)
    return dataclasses.replace(result, compile_seconds=progress.compile_seconds)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STEP_DONE = re.compile(r"^\s*(?:✓|done)\s+([\d.]+)s$")
_BUILD_START = re.compile(r"^Building (cp\d+-\S+) wheel$")


class CibuildwheelProgress:
    """cibuildwheel's steps as progress lines, and how long its compiles took."""

    def __init__(self) -> None:
        self.step = ""
        self.compile_seconds = 0.0

    def line(self, raw: str) -> None:
        text = _ANSI.sub("", raw).strip().removeprefix("::group::")
        if _BUILD_START.match(text):
            log.info(f"    {text}")
        elif text.endswith("...") and text[:1].isupper() and " " in text:
            self.step = text
        elif (done := _STEP_DONE.match(text)) and self.step:
            seconds = float(done.group(1))
            if self.step == "Building wheel...":
                self.compile_seconds += seconds
            log.info(f"    {self.step[:-3].lower()} ({log.format_duration(seconds)})")
            self.step = ""
        else:
            compile_progress(raw)


@dataclass(frozen=True)
class CacheCounts:
    hits: int = 0
    misses: int = 0

    def __bool__(self) -> bool:
        return bool(self.hits or self.misses)

    def __str__(self) -> str:
        return f"{self.hits} hits, {self.misses} misses"


def ccache_log_stats(program: str | None, stats_log: Path) -> CacheCounts:
    """One build's cache counters, from its stats log, read with the host's ccache."""
    if program is None or not stats_log.is_file():
        return CacheCounts()
    try:
        out = proc.run([program, "--print-log-stats"], env={"CCACHE_STATSLOG": str(stats_log)},
                       capture=True, quiet=True)
    except ToolError:
        return CacheCounts()
    finally:
        stats_log.unlink(missing_ok=True)
    counts = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def count(*names: str) -> int:
        return sum(int(counts.get(n, "0")) for n in names)

    return CacheCounts(
        hits=count("direct_cache_hit", "preprocessed_cache_hit"), misses=count("cache_miss")
    )
