"""The container backend up to the engine: plan, commands, staging, backend choice."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import tomllib

from wheel_matrix import cli, proc, render
from wheel_matrix.backends import container
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
        "docker", "build", "--platform", "linux/arm64", "--build-arg", "TARGETARCH=arm64",
        "--tag", plan.image, "--file", str(rendered / "docker/cu130.Dockerfile"),
        str(rendered / "docker"),
    ]
    assert plan.probe_image[:3] == ["docker", "image", "inspect"]
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

    monkeypatch.setattr(proc, "run", fails)
    assert container.engine_answers() is False
    assert calls[0][:2] == ["docker", "info"]
    monkeypatch.setattr(proc, "run", lambda argv, **_: "27.3.1\n")
    assert container.engine_answers() is True


@pytest.mark.parametrize(("answers", "expected"), [(True, "docker"), (False, "host")])
def test_auto_backend_picks_docker_where_an_engine_answers(
    monkeypatch: pytest.MonkeyPatch, answers: bool, expected: str
) -> None:
    monkeypatch.setattr(container, "engine_answers", lambda: answers)
    assert build.pick_backend("auto") == expected
    assert build.pick_backend("host") == "host"  # an explicit choice is never probed


def test_failure_on_actions_is_grouped_and_annotated_with_the_tail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing step: its group closes, and ::error:: carries the last lines of its output."""
    noisy = [sys.executable, "-c",
             "import sys; [print(f'compiler line {i}') for i in range(60)]; sys.exit(3)"]
    monkeypatch.setattr(container.ContainerBuild, "probe_image", property(lambda self: noisy))
    monkeypatch.setattr(container.ContainerBuild, "build_image", property(lambda self: noisy))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code = cli.main(["build", "--backend", "docker", "--cell", "torch2.14-cpu-x86_64",
                     "--dist", str(tmp_path / "dist"), "--cache", str(tmp_path / "cache")])
    assert code == 2
    err = capsys.readouterr().err
    assert "::group::image wheel-matrix/cpu:x86_64-" in err and "::endgroup::" in err
    (annotation,) = [line for line in err.splitlines() if line.startswith("::error::")]
    assert "exited with code 3" in annotation
    assert "compiler line 59" in annotation and "%0A" in annotation  # the tail, one line
    assert "compiler line 0%0A" not in annotation  # only the tail
