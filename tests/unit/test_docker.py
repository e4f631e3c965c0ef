"""The container backend up to the engine: plan, commands, staging, backend choice."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pytest
import tomllib

from wheel_matrix import build, build_cli, cli, docker, model, proc, render, settings
from wheel_matrix.errors import ToolError, UserError
from wheel_matrix.plan import find_cell


@pytest.fixture
def rendered(tmp_path: Path, small_matrix_path: Path) -> Path:
    root = tmp_path / "repo"
    render.write(root, render.render(model.load(small_matrix_path), settings.load()))
    return root


@pytest.fixture
def options(tmp_path: Path) -> build.BuildOptions:
    return build.BuildOptions(dist=tmp_path / "dist", cache=tmp_path / "cache", jobs=3, ccache=None)


def _plan(
    small_matrix_path: Path, root: Path, options: build.BuildOptions, cell_id: str
) -> docker.DockerPlan:
    matrix = model.load(small_matrix_path)
    return docker.plan_docker(find_cell(matrix, cell_id), options, matrix, root=root)


def test_plan_uses_the_cells_rendered_image_and_config(
    small_matrix_path: Path, rendered: Path, options: build.BuildOptions,
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
    assert "TORCH_CUDA_ARCH_LIST" not in plan.env  # the config's matrix default applies


def test_arch_list_override_is_passed_into_the_container(
    small_matrix_path: Path, rendered: Path, options: build.BuildOptions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "9.0")
    plan = _plan(small_matrix_path, rendered, options, "torch2.14-cu130-x86_64")
    assert plan.env["TORCH_CUDA_ARCH_LIST"] == "9.0"
    config = tomllib.loads(plan.config.read_text())["tool"]["cibuildwheel"]
    assert "TORCH_CUDA_ARCH_LIST" in config["environment-pass"]
    cpu = _plan(small_matrix_path, rendered, options, "torch2.14-cpu-x86_64")
    assert "TORCH_CUDA_ARCH_LIST" not in cpu.env


def test_stale_generated_files_refuse_to_build(
    small_matrix_path: Path, rendered: Path, options: build.BuildOptions
) -> None:
    config = rendered / "cibuildwheel/torch2.14-cpu-x86_64.toml"
    config.write_text(config.read_text().replace("cp310", "cp39"))
    with pytest.raises(UserError, match=r"torch2.14-cpu-x86_64.toml is missing or out of date "
                       r"with matrix-small.yaml: run `nox -s render`"):
        _plan(small_matrix_path, rendered, options, "torch2.14-cpu-x86_64")
    (rendered / "docker/cu126.Dockerfile").unlink()
    with pytest.raises(UserError, match=r"cu126\.Dockerfile is missing"):
        _plan(small_matrix_path, rendered, options, "torch2.14-cu126-x86_64")


def test_staged_project_holds_the_build_inputs_and_the_service(
    small_matrix_path: Path, rendered: Path, options: build.BuildOptions, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    (source / "csrc").mkdir(parents=True)
    (source / "setup.py").write_text("setup()\n")
    (source / "csrc" / "ops.cpp").write_text("int x;\n")
    (source / ".nox").mkdir()  # never copied into the container
    plan = _plan(small_matrix_path, rendered, options, "torch2.14-cpu-x86_64")
    docker.stage_project(plan, source)
    assert (plan.project / "setup.py").is_file()
    assert (plan.project / "csrc" / "ops.cpp").is_file()
    assert (plan.project / "wheel_matrix" / "build.py").is_file()
    assert (plan.project / "matrix.yaml").read_text() == small_matrix_path.read_text()
    assert not (plan.project / ".nox").exists()
    assert not list(plan.project.rglob("__pycache__"))


def test_engine_answers_only_when_docker_info_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fails(argv: list[str], **_: object) -> str:
        calls.append([str(a) for a in argv])
        raise ToolError("docker exited with code 1")

    monkeypatch.setattr(proc, "run", fails)
    assert docker.engine_answers() is False
    assert calls[0][:2] == ["docker", "info"]
    monkeypatch.setattr(proc, "run", lambda argv, **_: "27.3.1\n")
    assert docker.engine_answers() is True


@pytest.mark.parametrize(("answers", "expected"), [(True, "docker"), (False, "host")])
def test_auto_backend_picks_docker_where_an_engine_answers(
    monkeypatch: pytest.MonkeyPatch, answers: bool, expected: str
) -> None:
    monkeypatch.setattr(docker, "engine_answers", lambda: answers)
    assert build_cli.pick_backend("auto") == expected
    assert build_cli.pick_backend("host") == "host"  # an explicit choice is never probed


def test_build_command_routes_the_docker_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, small_matrix_path: Path
) -> None:
    seen: list[tuple[str, str]] = []

    def fake_run(plan: docker.DockerPlan, options: build.BuildOptions) -> build.BuildResult:
        seen.append((plan.cell.id, plan.image))
        raise UserError("stop before the engine")

    monkeypatch.setattr(docker, "run_docker", fake_run)
    code = cli.main(["build", "--backend", "docker", "--cell", "torch2.14-cpu-x86_64",
                     "--dist", str(tmp_path / "dist"), "--cache", str(tmp_path / "cache")])
    assert code == 2
    assert seen and seen[0][0] == "torch2.14-cpu-x86_64"
    assert seen[0][1].startswith("wheel-matrix/cpu:x86_64-")


def test_repair_command_errors_are_one_line(
    tmp_path: Path, small_matrix_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["repair", "--matrix", str(small_matrix_path), "--dest", str(tmp_path / "out")]
    assert cli.main([*base, "--cell", "torch2.99-cpu", str(tmp_path / "x.whl")]) == 2
    assert "no torch 2.99" in capsys.readouterr().err
    assert cli.main([*base, "--cell", "torch2.14-cpu", str(tmp_path / "x.whl")]) == 2
    assert "x.whl: no such wheel" in capsys.readouterr().err


def test_repair_runs_the_host_backends_repair_and_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, small_matrix_path: Path
) -> None:
    seen: list[tuple[Path, Path, str]] = []

    def fake(raw: Path, dest: Path, cell: object) -> Path:
        seen.append((raw, dest, cell.id))  # type: ignore[attr-defined]
        return dest / raw.name

    monkeypatch.setattr(build, "repair_and_check", fake)
    wheel = tmp_path / "causal_conv1d-1.7.0+cputorch2.14-cp310-abi3-linux_x86_64.whl"
    wheel.write_bytes(b"")
    args = argparse.Namespace(matrix=small_matrix_path, cell="torch2.14-cpu-x86_64",
                              dest=tmp_path / "out", wheel=wheel)
    assert docker._cmd_repair(args) == 0
    assert seen == [(wheel, tmp_path / "out", "torch2.14-cpu-x86_64")]


def test_failure_on_actions_is_grouped_and_annotated_with_the_tail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing step: its group closes, and ::error:: carries the last lines of its output."""
    noisy = [sys.executable, "-c",
             "import sys; [print(f'compiler line {i}') for i in range(60)]; sys.exit(3)"]
    monkeypatch.setattr(docker.DockerPlan, "probe_image", property(lambda self: noisy))
    monkeypatch.setattr(docker.DockerPlan, "build_image", property(lambda self: noisy))
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
