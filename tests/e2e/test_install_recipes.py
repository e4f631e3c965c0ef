"""The install recipes, run by the real clients against a served index holding the built wheel.

Every recipe of the README (recipes.py, rendered into it and drift-checked) is
run step by step, verbatim but for the index URL, in a fresh project: pip, uv
pip, a uv project, Poetry, PDM and pip-tools, with torch from PyPI. Each lock
must hold our labelled wheel and no sdist, and `which-index` must name the
build the client picked. pip, uv pip, the uv project and Poetry install for
real (torch comes from the installers' caches after the first download).

A second, offline set puts an upstream-like causal-conv1d 1.7.1 *sdist* on a
registry standing in for PyPI: each recipe still picks our wheel, and the
same client without its guard takes the sdist (so the guards are what holds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
from support import free_port, pypi_server, wait_until_serving

from wheel_matrix.configuration import matrix_file
from wheel_matrix.plan import cells, pypi_channels
from wheel_matrix.plan.label import label_of_version
from wheel_matrix.plan.recipes import Recipes, Step
from wheel_matrix.render import newest_pypi_recipes
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "causal-conv1d"
TOOLS = {  # client -> what to install (pinned, each in a venv of its own)
    "poetry": ["poetry==2.5.1"],
    "pdm": ["pdm==2.29.4", "hishel[httpx2]>=1.4,<2"],  # pdm 2.29 needs hishel's httpx2 extra
    "pip-compile": ["pip-tools==7.6.2"],
}


def sh(command: str, cwd: Path, env: Mapping[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", command],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"$ {command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def apply(recipe_steps: tuple[Step, ...], cwd: Path, env: Mapping[str, str]) -> None:
    """Run a recipe's steps as a user would: append or write its lines, run its commands."""
    for kind, path, text in recipe_steps:
        if kind == "run":
            sh(text, cwd, env)
        elif kind == "append":
            with (cwd / path).open("a") as handle:
                handle.write("\n" + text)
        else:
            (cwd / path).write_text(text)


@dataclass(frozen=True)
class Served:
    base: str
    wheel: Path
    version: str
    torch: str

    def recipes(self) -> Recipes:
        """The README's recipes (the same function renders them), for this index's URL."""
        matrix = matrix_file.load()
        return newest_pypi_recipes(cells(matrix), matrix.torch_index, self.base)


@pytest.fixture(scope="module")
def served(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The built wheel in a served index, listed in its channel and (PyPI's build) in pypi."""
    label = label_of_version(built_wheel.name.split("-")[1])
    pypi = pypi_channels(matrix_file.load())
    newest = cells(matrix_file.load())[0].torch.minor
    if pypi.get(label.torch) != label.channel or label.torch != newest:
        pytest.fail(f"{built_wheel.name} is not the build for PyPI's newest torch {newest}, "
                    "whose recipes the README shows")
    tmp = tmp_path_factory.mktemp("recipes-index")
    (tmp / "wheels").mkdir()
    shutil.copy(built_wheel, tmp / "wheels")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    cli = [sys.executable, "-m", "wheel_matrix"]
    subprocess.run(
        [*cli, "index", "--wheels", str(tmp / "wheels"), "--out", str(tmp / "index"),
         "--base-url", base],
        cwd=ROOT, check=True, capture_output=True,
    )
    server = subprocess.Popen(
        [*cli, "serve", "--root", str(tmp / "index"), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(base + "pypi/", server)
        version = built_wheel.name.split("-")[1]
        yield Served(base, built_wheel, version, label.torch)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bin folder with poetry, pdm and pip-compile, each from its own venv."""
    tmp = tmp_path_factory.mktemp("tools")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    uv = shutil.which("uv")
    assert uv, "uv is not installed (it is in the service dependency group)"
    for program, requirements in TOOLS.items():
        venv = tmp / program
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *requirements],
            check=True,
        )
        (bin_dir / program).symlink_to(venv / "bin" / program)
    return bin_dir


def client_env(tmp: Path, tools: Path | None = None, venv: Path | None = None) -> dict[str, str]:
    skip = ("VIRTUAL_ENV", "UV_", "POETRY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    path = env["PATH"]
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        path = f"{venv / 'bin'}{os.pathsep}{path}"
    if tools is not None:
        path = f"{tools}{os.pathsep}{path}"
    env.update(
        PATH=path,
        UV_PYTHON_DOWNLOADS="never",
        POETRY_VIRTUALENVS_IN_PROJECT="true",
        POETRY_CONFIG_DIR=str(tmp / "poetry-config"),
        PDM_CONFIG_FILE=str(tmp / "pdm-config.toml"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    return env


def installed(python: Path, tmp: Path) -> str:
    """The causal-conv1d an environment imports, after running its op once."""
    code = (
        "import importlib.metadata as m, torch, causal_conv1d\n"
        "from causal_conv1d import causal_conv1d_fn\n"
        "x = torch.randn(1, 8, 16); w = torch.randn(8, 4)\n"
        "assert causal_conv1d_fn(x, w, activation='silu').shape == x.shape\n"
        "print(m.version('causal-conv1d'))\n"
    )
    done = subprocess.run([str(python), "-c", code], cwd=tmp, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def which_index(python: Path, base: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "wheel_matrix", "which-index", "--python", str(python),
         "--index", base],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pip_recipe_installs_the_build_and_which_index_agrees(
    served: Served, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    apply(served.recipes()["pip"].steps, tmp_path, client_env(tmp_path, venv=venv))
    python = venv / "bin" / "python"
    assert installed(python, tmp_path) == served.version
    printed = which_index(python, served.base)
    assert f"# {served.version} from {served.base}pypi/" in printed
    assert served.recipes()["pip"].text in printed


def test_uv_pip_recipe_installs_the_build(served: Served, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    apply(served.recipes()["uv_pip"].steps, tmp_path, client_env(tmp_path, venv=venv))
    assert installed(venv / "bin" / "python", tmp_path) == served.version


def lock_files(lock: dict[str, object], name: str) -> list[str]:
    """The file names a uv.lock / pdm.lock / poetry.lock records for a package."""
    found: list[str] = []
    for package in lock["package"]:  # type: ignore[attr-defined]
        if package["name"] != name:
            continue
        for entry in package.get("wheels", []) + package.get("files", []):
            found.append(str(entry.get("url") or entry.get("file")).rsplit("/", 1)[-1])
        if "sdist" in package:
            found.append(str(package["sdist"]))
    return found


def test_uv_project_add_torch_then_causal_conv1d(served: Served, tmp_path: Path) -> None:
    """The issue's scenario: `uv add torch`, the README's index lines, then causal-conv1d."""
    env = client_env(tmp_path)
    project = tmp_path / "demo"
    sh(f"uv init -q --no-workspace --python {sys.executable} demo", tmp_path, env)
    sh("uv add -q torch", project, env)
    index_lines, (_, _, add) = served.recipes()["uv_project"].steps
    apply((index_lines,), project, env)
    sh("uv add -q \"causal-conv1d; sys_platform == 'linux'\"", project, env)
    lock = tomllib.loads((project / "uv.lock").read_text())
    files = lock_files(lock, PROJECT)
    assert files == [served.wheel.name.replace("+", "%2B")], files  # no sdist anywhere
    (torch,) = (p for p in lock["package"] if p["name"] == "torch")
    assert torch["version"].startswith(served.torch + ".")
    platforms = {w["url"].rsplit("-", 1)[-1] for w in torch["wheels"]}
    assert any("macosx" in p for p in platforms) and any("win" in p for p in platforms)
    sh("uv sync -q", project, env)
    assert installed(project / ".venv" / "bin" / "python", tmp_path) == served.version
    # The recipe's own command (torch pinned to the build's minor) locks the same build.
    sh(add, project, env)
    assert lock_files(tomllib.loads((project / "uv.lock").read_text()), PROJECT) == files


def test_poetry_recipe_locks_universally_and_installs(
    served: Served, tools: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path, tools=tools)
    # Poetry's artifact cache keys on the file name: another build of the same cell
    # (an earlier run's) must not be taken for this one.
    env["POETRY_CACHE_DIR"] = str(tmp_path / "poetry-cache")
    project = tmp_path / "demo"
    project.mkdir()
    sh('poetry init -q -n --name demo --python ">=3.11"', project, env)
    # This machine's PyPI serves no per-version JSON pages: Poetry reads its simple API.
    sh("poetry source add -q --priority=primary pypi-simple https://pypi.org/simple/", project, env)
    # torch comes from uv's cache (hard links), so Poetry installs only our wheel.
    sh(f"uv venv -q --python {sys.executable} .venv && uv pip install -q "
       f"--python .venv/bin/python 'torch=={served.torch}.*'", project, env)
    apply(served.recipes()["poetry"].steps, project, env)
    lock = tomllib.loads((project / "poetry.lock").read_text())
    files = lock_files(lock, PROJECT)
    assert files == [served.wheel.name], files
    (package,) = (p for p in lock["package"] if p["name"] == PROJECT)
    assert package["version"] == served.version
    assert package.get("markers") == "sys_platform == \"linux\""
    (torch,) = (p for p in lock["package"] if p["name"] == "torch")
    assert any("macosx" in f["file"] for f in torch["files"])  # universal
    assert installed(project / ".venv" / "bin" / "python", tmp_path) == served.version


def test_pdm_recipe_locks_the_exact_build(served: Served, tools: Path, tmp_path: Path) -> None:
    env = client_env(tmp_path, tools=tools)
    project = tmp_path / "demo"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        "dependencies = []\n\n[tool.pdm]\ndistribution = false\n"
    )
    steps = served.recipes()["pdm"].steps
    apply(steps[:1], project, env)
    # `pdm add` locks and installs; torch is already in the project's venv (uv's cache).
    sh(f"uv venv -q --python {sys.executable} .venv && uv pip install -q "
       f"--python .venv/bin/python 'torch=={served.torch}.*' && pdm use -q -f .venv", project, env)
    apply(steps[1:], project, env)
    lock = tomllib.loads((project / "pdm.lock").read_text())
    assert lock_files(lock, PROJECT) == [served.wheel.name]
    (package,) = (p for p in lock["package"] if p["name"] == PROJECT)
    assert package["version"] == served.version  # the label survives
    assert installed(project / ".venv" / "bin" / "python", tmp_path) == served.version


def test_pip_tools_recipe_pins_the_build(served: Served, tools: Path, tmp_path: Path) -> None:
    env = client_env(tmp_path, tools=tools)
    # PyPI here offers no PEP 658 metadata: fast-deps reads torch's by range requests.
    env["PIP_USE_FEATURE"] = "fast-deps"
    apply(served.recipes()["pip_tools"].steps, tmp_path, env)
    pins = (tmp_path / "requirements.txt").read_text()
    assert f"causal-conv1d=={served.version} ; sys_platform == \"linux\"" in pins
    assert f"torch=={served.torch}." in pins


# --- offline: a newer upstream sdist on the registry that stands in for PyPI -------------------


def upstream_sdist(folder: Path, version: str) -> Path:
    """An sdist like upstream's: newer than our wheels, and unbuildable without torch."""
    src = folder / f"causal_conv1d-{version}"
    src.mkdir(parents=True)
    metadata = f"Metadata-Version: 2.1\nName: causal-conv1d\nVersion: {version}\n"
    (src / "PKG-INFO").write_text(metadata)
    (src / "setup.py").write_text("import torch  # upstream's build needs torch and nvcc\n")
    path = folder / f"causal_conv1d-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        archive.add(src, arcname=src.name)
    shutil.rmtree(src)
    return path


@pytest.fixture(scope="module")
def fake_pypi(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pypiserver with a stand-in torch (no dependencies) and upstream's newer sdist."""
    packages = tmp_path_factory.mktemp("fake-pypi")
    for tag in ("cp311-cp311-manylinux_2_28_x86_64", "cp312-cp312-manylinux_2_28_x86_64",
                "cp311-none-macosx_14_0_arm64"):
        make_wheel(packages, "torch", f"{served.torch}.0", tag=tag, requires_python=">=3.11")
    upstream_sdist(packages, "1.7.1")
    with pypi_server(packages) as base:
        yield f"{base}/simple/"


def picked(text: str) -> str:
    # Our wheels never build: any attempt to build causal-conv1d means the sdist was taken.
    if "1.7.1" in text or "Failed to build 'causal-conv1d'" in text:
        return "upstream sdist"
    return "ours" if "torch2." in text else "nothing: " + text[-300:]


def offline_env(tmp: Path, fake: str, tools: Path) -> dict[str, str]:
    """Every client pointed at the stand-in PyPI (and this machine's pip config left out)."""
    env = client_env(tmp, tools=tools)
    env.update(
        PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=fake, PIP_FIND_LINKS="", PIP_CONSTRAINT=" ",
        UV_DEFAULT_INDEX=fake, UV_CACHE_DIR=str(tmp / "uv-cache"),
        POETRY_CACHE_DIR=str(tmp / "poetry-cache"), PDM_CACHE_DIR=str(tmp / "pdm-cache"),
        PDM_PYPI_URL=fake,
    )
    return env


def attempt(command: str, cwd: Path, env: Mapping[str, str], *outputs: str) -> str:
    """Run a command that may fail; its output and the files it wrote, as one text."""
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=dict(env),
                          capture_output=True, text=True, check=False)
    return done.stdout + done.stderr + "".join(
        (cwd / name).read_text() for name in outputs if (cwd / name).is_file()
    )


PROJECT_TOML = (
    '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
    "dependencies = [{deps}]\n"
)


def project(tmp: Path, name: str, extra: str = "", deps: str = "") -> Path:
    work = tmp / name
    work.mkdir()
    (work / "pyproject.toml").write_text(PROJECT_TOML.format(deps=deps) + extra)
    return work


def test_guards_keep_each_client_off_a_newer_upstream_sdist(
    served: Served, fake_pypi: str, tools: Path, tmp_path: Path
) -> None:
    env = offline_env(tmp_path, fake_pypi, tools)
    found = served.recipes()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    results: dict[str, str] = {}

    pip = found["pip"].steps[0][2].replace(
        "pip install ", f"{venv}/bin/python -m pip install --dry-run ", 1
    )
    results["pip"] = picked(attempt(pip, tmp_path, env))
    unguarded = pip.replace(f"--only-binary={PROJECT} ", "")
    results["pip, no --only-binary"] = picked(attempt(unguarded, tmp_path, env))

    uv = found["uv_pip"].steps[0][2].replace(
        "uv pip install", f"uv pip install --dry-run --python {venv}/bin/python", 1
    )
    results["uv pip"] = picked(attempt(uv, tmp_path, env))
    unsafe = uv + " --index-strategy unsafe-best-match"
    results["uv pip, unsafe-best-match"] = picked(attempt(unsafe, tmp_path, env))

    deps = f'"torch=={served.torch}.*", "{PROJECT}; sys_platform == \'linux\'"'
    uv_lines = found["uv_project"].steps[0][2]
    work = project(tmp_path, "uv-project", "\n" + uv_lines, deps)
    results["uv project"] = picked(attempt("uv lock", work, env, "uv.lock"))
    loose = uv_lines.replace("explicit = true\n", "").split("[tool.uv.sources]")[0]
    work = project(tmp_path, "uv-project-loose", "\n" + loose, deps)
    results["uv project, no source"] = picked(
        attempt("uv lock --index-strategy unsafe-best-match", work, env, "uv.lock")
    )

    work = project(tmp_path, "poetry", "\n[tool.poetry]\npackage-mode = false\n")
    primary = f"poetry source add -q --priority=primary fake {fake_pypi}"
    # --lock: the same recipe, resolving and locking without installing.
    steps = " && ".join(t.replace("poetry add", "poetry add --lock")
                        for k, _, t in found["poetry"].steps)
    results["Poetry"] = picked(attempt(f"{primary} && {steps}", work, env, "poetry.lock"))
    work = project(tmp_path, "poetry-no-pin", "\n[tool.poetry]\npackage-mode = false\n", deps)
    supplemental = f"poetry source add -q --priority=supplemental {PROJECT} {served.base}pypi/"
    results["Poetry, supplemental source"] = picked(
        attempt(f"{primary} && {supplemental} && poetry lock", work, env, "poetry.lock")
    )

    (_, _, pdm_lines), (_, _, add) = found["pdm"].steps
    pdm_head = "\n[tool.pdm]\ndistribution = false\n\n"
    work = project(tmp_path, "pdm", pdm_head + pdm_lines)
    results["PDM"] = picked(attempt(add.replace("pdm add", "pdm add --no-sync"), work, env,
                                    "pdm.lock"))
    loose = pdm_lines.split("include_packages")[0]
    work = project(tmp_path, "pdm-no-include", pdm_head + loose, deps)
    results["PDM, no include_packages"] = picked(attempt("pdm lock", work, env, "pdm.lock"))

    (_, path, lines), (_, _, compile_) = found["pip_tools"].steps
    for name, text in (
        ("pip-compile", lines),
        ("pip-compile, no --only-binary", lines.replace(f"--only-binary {PROJECT}\n", "")),
    ):
        work = tmp_path / name.replace(" ", "").replace(",", "-")
        work.mkdir()
        (work / path).write_text(text)
        results[name] = picked(attempt(compile_, work, env, "requirements.txt"))

    assert results == {
        "pip": "ours",
        "pip, no --only-binary": "upstream sdist",
        "uv pip": "ours",
        "uv pip, unsafe-best-match": "upstream sdist",
        "uv project": "ours",
        "uv project, no source": "upstream sdist",
        "Poetry": "ours",
        "Poetry, supplemental source": "upstream sdist",
        "PDM": "ours",
        "PDM, no include_packages": "upstream sdist",
        "pip-compile": "ours",
        "pip-compile, no --only-binary": "upstream sdist",
    }, json.dumps(results, indent=1)
