"""The container backend up to the engine: plan, commands, staging, backend choice."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import tomllib

from wheel_matrix import cli, proc, render
from wheel_matrix.backends import container, engine
from wheel_matrix.backends.local_base import LocalBase
from wheel_matrix.backends.options import BuildOptions
from wheel_matrix.cli import build
from wheel_matrix.configuration import matrix_file, settings
from wheel_matrix.configuration.settings import Settings
from wheel_matrix.errors import ToolError, UserError
from wheel_matrix.plan import find_cell
from wheel_matrix.plan.decisions import decide

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def rendered(tmp_path: Path, small_matrix_path: Path, small_settings: Settings) -> Path:
    root = tmp_path / "repo"
    render.write(root, render.render(matrix_file.load(small_matrix_path), small_settings))
    return root


@pytest.fixture
def options(tmp_path: Path) -> BuildOptions:
    return BuildOptions(dist=tmp_path / "dist", cache=tmp_path / "cache", jobs=3, ccache=None)


def _plan(
    small_matrix_path: Path, root: Path, options: BuildOptions, cell_id: str
) -> container.ContainerBuild:
    matrix = matrix_file.load(small_matrix_path)
    small = settings.load(FIXTURES / "settings-small.yaml")
    spec = decide(find_cell(matrix, cell_id), matrix.torch_index, matrix.test_arch)
    # What render gives for the cell's two files, as the build command hands it over.
    generated = {g.path: g.text for g in render.render(matrix, small)}
    return container.plan_container(spec, options, generated, root)


def test_plan_uses_the_cells_rendered_image_and_config(
    small_matrix_path: Path, rendered: Path, options: BuildOptions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    plan = _plan(small_matrix_path, rendered, options, "torch2.14-cu130-aarch64")
    config = tomllib.loads(plan.config.read_text())["tool"]["cibuildwheel"]
    assert config["manylinux-aarch64-image"] == plan.image
    assert plan.image.startswith("wheel-matrix/cu130:aarch64-")
    assert plan.build_image == [
        plan.client, "build", "--platform", "linux/arm64", "--build-arg", "TARGETARCH=arm64",
        "--tag", plan.image, "--file", str(rendered / "docker/cu130.Dockerfile"),
        str(rendered / "docker"),
    ]
    assert plan.cibuildwheel == [
        sys.executable, "-m", "cibuildwheel", "--platform", "linux", "--config-file",
        str(rendered / "cibuildwheel/torch2.14-cu130-aarch64.toml"),
        "--output-dir", str(plan.output), ".",
    ]
    assert plan.wheels == options.dist / "wheels"
    # The compile cache is the host's cache folder, mounted where the config points ccache.
    engine = plan.env["CIBW_CONTAINER_ENGINE"]
    assert engine.startswith("docker; create_args: ")
    assert shlex.split(engine.split(": ", 1)[1]) == [
        f"--volume={options.cache / 'ccache' / 'store'}:/ccache"
    ]
    assert config["environment"]["CCACHE_DIR"] == "/ccache"
    assert plan.env["MAX_JOBS"] == "3"
    # The release arch list, decided on the host like the host backend's, passed in.
    assert plan.env["TORCH_CUDA_ARCH_LIST"] == "9.0;10.0+PTX"
    assert "TORCH_CUDA_ARCH_LIST" in config["environment-pass"]
    # Repair is plain auditwheel with the plan's excludes: no service code in the container.
    assert shlex.split(config["repair-wheel-command"])[1:4] == ["-m", "auditwheel", "repair"]
    # The release path: registry bases, the container's own network, no wheelhouse.
    assert not plan.build_args and plan.local is None
    assert not {"PIP_NO_INDEX", "CIBW_BUILD"} & set(plan.env)
    # abi3audit runs in the host-side checks; the pip variables pass only when set.
    assert config["audit-command"] == ""
    assert {"PIP_NO_INDEX", "PIP_FIND_LINKS"} <= set(config["environment-pass"])


def test_arch_list_override_is_passed_into_the_container(
    small_matrix_path: Path, rendered: Path, options: BuildOptions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.6")
    plan = _plan(small_matrix_path, rendered, options, "torch2.14-cu130-x86_64")
    assert plan.env["TORCH_CUDA_ARCH_LIST"] == "8.6"
    cpu = _plan(small_matrix_path, rendered, options, "torch2.14-cpu-x86_64")
    assert "TORCH_CUDA_ARCH_LIST" not in cpu.env


def test_stale_generated_files_refuse_to_build(
    small_matrix_path: Path, rendered: Path, options: BuildOptions
) -> None:
    config = rendered / "cibuildwheel/torch2.14-cpu-x86_64.toml"
    config.write_text(config.read_text().replace("cp310", "cp39"))
    with pytest.raises(UserError, match=r"torch2.14-cpu-x86_64.toml is missing or out of date "
                       r"with matrix.yaml: run `nox -s render`"):
        _plan(small_matrix_path, rendered, options, "torch2.14-cpu-x86_64")
    (rendered / "docker/cu126.Dockerfile").unlink()
    with pytest.raises(UserError, match=r"cu126\.Dockerfile is missing"):
        _plan(small_matrix_path, rendered, options, "torch2.14-cu126-x86_64")


def test_engine_answers_only_when_docker_info_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fails(argv: list[str], **_: object) -> str:
        calls.append([str(a) for a in argv])
        raise ToolError("docker exited with code 1")

    monkeypatch.delenv("DOCKER", raising=False)
    monkeypatch.setattr(proc, "run", fails)
    assert engine.answers() is False
    assert calls[0][:2] == ["docker", "info"]
    monkeypatch.setattr(proc, "run", lambda argv, **_: "27.3.1\n")
    assert engine.answers() is True


@pytest.mark.parametrize(("answers", "expected"), [(True, "docker"), (False, "host")])
def test_auto_backend_picks_docker_where_an_engine_answers(
    monkeypatch: pytest.MonkeyPatch, answers: bool, expected: str
) -> None:
    monkeypatch.setattr(engine, "answers", lambda: answers)
    assert build.pick_backend("auto") == expected
    assert build.pick_backend("host") == "host"  # an explicit choice is never probed
    # The default cell is the one this machine builds itself: auto builds it here.
    assert build.pick_backend("auto", default_cell=True) == "host"


def test_local_base_swaps_the_bases_and_takes_the_network_away(
    small_matrix_path: Path, rendered: Path, options: BuildOptions, tmp_path: Path
) -> None:
    release = _plan(small_matrix_path, rendered, options, "torch2.14-cu130-x86_64")
    local = LocalBase(
        base="wheel-matrix/local-base:b1", cuda="wheel-matrix/local-cuda:13.0-c1",
        wheelhouse=tmp_path / "wheelhouse", pythons=("3.11", "3.12"),
    )
    matrix = matrix_file.load(small_matrix_path)
    small = settings.load(FIXTURES / "settings-small.yaml")
    spec = decide(find_cell(matrix, "torch2.14-cu130-x86_64"), matrix.torch_index, "9.0")
    generated = {g.path: g.text for g in render.render(matrix, small)}
    plan = container.plan_container(spec, options, generated, rendered, local)
    # The same Dockerfile and configuration as the release build...
    assert (plan.dockerfile, plan.config) == (release.dockerfile, release.config)
    # ...built on the local bases, under a name of its own that changes with them.
    assert plan.image.startswith("wheel-matrix/cu130-local:x86_64-")
    assert plan.image != release.image
    args = plan.build_image
    assert args[1:3] == ["build", "--network=host"]
    pairs = {args[i + 1] for i, a in enumerate(args) if a == "--build-arg"}
    assert {"BASE=local", "LOCAL_BASE=wheel-matrix/local-base:b1",
            "CUDA_IMAGE=wheel-matrix/local-cuda:13.0-c1"} <= pairs
    rebased = LocalBase(**{**local.__dict__, "base": "wheel-matrix/local-base:b2"})
    assert container.plan_container(spec, options, generated, rendered, rebased).image != plan.image
    # cibuildwheel: this image, the Pythons the base carries, no network, the wheelhouse.
    assert plan.env["CIBW_MANYLINUX_X86_64_IMAGE"] == plan.image
    assert plan.env["CIBW_BUILD"] == "cp311-manylinux_x86_64 cp312-manylinux_x86_64"
    create = shlex.split(plan.env["CIBW_CONTAINER_ENGINE"].split(": ", 1)[1])
    assert create == [
        "--network=none", f"--volume={options.cache / 'ccache' / 'store'}:/ccache",
        f"--volume={tmp_path / 'wheelhouse'}:/wheelhouse:ro",
    ]
    assert (plan.env["PIP_NO_INDEX"], plan.env["PIP_FIND_LINKS"]) == ("1", "/wheelhouse")


def test_local_base_is_for_the_container_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["build", "--backend", "host", "--local-base", "--dist", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --local-base is for the container backend: drop --backend host"
    ]


def test_no_engine_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A socket nobody listens on: the real client, told to use it, gets no answer.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    code = cli.main(["build", "--backend", "docker", "--cell", "torch2.14-cpu-x86_64",
                     "--dist", str(tmp_path / "dist"), "--cache", str(tmp_path / "cache")])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == (
        f"error: no Docker engine answers at unix://{tmp_path}/none.sock: start one "
        "(scripts/docker-engine.sh start on a machine without a service manager) "
        "or use --backend host"
    )
    assert not (tmp_path / "dist").exists()


def test_a_full_disk_is_one_line() -> None:
    script = (
        "print('#12 ERROR: failed to copy: write /var/lib/docker/overlay2/x: "
        "no space left on device'); raise SystemExit(1)"
    )
    with pytest.raises(UserError) as info:
        engine.run([sys.executable, "-c", script])
    assert str(info.value) == (
        "the Docker engine ran out of disk space: free some (docker system prune; "
        "docker builder prune) and build again"
    )


CIBUILDWHEEL_OUTPUT = """\
\x1b[1m\x1b[34mBuilding cp311-manylinux_x86_64 wheel\x1b[0m
CPython 3.11 manylinux x86_64

Setting up build environment...

                                                              \x1b[32m✓ \x1b[0m1.25s
Running before_build...

+ pip install torch==2.15.0
                                                             \x1b[32m✓ \x1b[0m61.50s
Building wheel...

  [1/2] c++ -MMD -MF x.o.d -c -c /project/csrc/fwd.cpp -o /project/build/fwd.o
  [2/2] c++ -MMD -MF y.o.d -c -c /project/csrc/bwd.cpp -o /project/build/bwd.o
                                                             \x1b[32m✓ \x1b[0m42.00s
Testing wheel...
                                                              \x1b[32m✓ \x1b[0m9.75s
"""


def test_progress_names_cibuildwheels_steps_and_times_the_compile(
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress = container.CibuildwheelProgress()
    for line in CIBUILDWHEEL_OUTPUT.splitlines(keepends=True):
        progress.line(line)
    assert progress.compile_seconds == 42.0
    assert [line.strip() for line in capsys.readouterr().err.splitlines()] == [
        "Building cp311-manylinux_x86_64 wheel",
        "setting up build environment (1.2s)",
        "running before_build (1m02s)",
        "[1/2] fwd.cpp",
        "[2/2] bwd.cpp",
        "building wheel (42.0s)",
        "testing wheel (9.8s)",
    ]
