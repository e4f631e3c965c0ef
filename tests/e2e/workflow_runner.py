"""Run a GitHub Actions job of this repository's workflows here, step by step.

The ``run:`` steps run literally, in order, under bash as Actions runs them
(``bash --noprofile --norc -eo pipefail``), in a clean clone of the working
tree, with a bare interpreter of the job's ``python-version`` first on PATH.
Each ``uses:`` step gets a local stand-in:

- checkout: a clone of this repository plus its uncommitted changes;
- setup-python: a fresh venv (no system site-packages) of that Python,
  and ``pythonX.Y`` on PATH for every other version listed;
- cache: a folder shared by the jobs of one run;
- upload-artifact / download-artifact: a folder per artifact;
- configure-aws-credentials: credentials for the S3 server on 127.0.0.1;
- attest-build-provenance: recorded as not run (it needs GitHub's OIDC).

Expressions are context lookups only (``${{ matrix.cell }}``, ``vars.X``,
``github.sha``, ``env.X``); anything else is refused, so a workflow that
starts relying on more fails here instead of passing untested.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_LOOKUP = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)+$")


def pyenv_python(version: str) -> Path:
    """The interpreter of ``version`` (3.11, 3.13, ...) that setup-python would install."""
    found = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    if found:
        return found[-1]
    which = shutil.which(f"python{version}")
    if which is None:
        raise AssertionError(f"no Python {version} here for setup-python's stand-in")
    return Path(which)


def load_workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    return data


@dataclass
class Run:
    """What the jobs of one workflow run share: artifacts, caches, variables, the S3 server."""

    base: Path
    variables: Mapping[str, str] = field(default_factory=dict)
    aws: Mapping[str, str] = field(default_factory=dict)  # configure-aws-credentials' result
    log: list[str] = field(default_factory=list)
    jobs: int = 0  # jobs run so far

    @property
    def artifacts(self) -> Path:
        return self.base / "artifacts"

    @property
    def caches(self) -> Path:
        return self.base / "caches"


@dataclass
class Job:
    run: Run
    name: str
    spec: Mapping[str, Any]
    matrix: Mapping[str, str]
    home: Path
    workspace: Path
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # GITHUB_PATH entries, newest first
    post: list[Callable[[], None]] = field(default_factory=list)  # e.g. cache saves

    def context(self) -> dict[str, Mapping[str, str]]:
        return {
            "matrix": self.matrix,
            "vars": self.run.variables,
            "secrets": {},
            "env": self.env,
            "github": {
                "sha": _git("rev-parse", "HEAD"),
                "ref": "refs/heads/main",
                "workspace": str(self.workspace),
                "repository": "local/causal-conv1d-wheels",
            },
            "runner": {"os": "Linux", "temp": str(self.home / "runner-temp")},
        }

    def expand(self, text: str) -> str:
        context = self.context()

        def value(match: re.Match[str]) -> str:
            expr = match.group(1)
            if not _LOOKUP.match(expr):
                raise AssertionError(f"{self.name}: unsupported expression ${{{{ {expr} }}}}")
            scope, _, key = expr.partition(".")
            if scope not in context:
                raise AssertionError(f"{self.name}: unknown context {scope!r} in {expr!r}")
            return str(context[scope].get(key, ""))

        return _EXPRESSION.sub(value, text)

    def process_env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "TERM", "PYENV_ROOT", "PIP_", "SSL_", "TMPDIR")
        env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
        # A GitHub runner is a fresh machine: its own home, caches and no leftovers.
        env.update(
            HOME=str(self.home),
            CI="true",
            GITHUB_ACTIONS="true",
            RUNNER_ENVIRONMENT="self-hosted",
            RUNNER_TEMP=str(self.home / "runner-temp"),
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_SHA=_git("rev-parse", "HEAD"),
            GITHUB_REF="refs/heads/main",
            # The hosted runner's engine would build from registry images, which
            # can't be pulled here: jobs see no engine and take the host backend.
            DOCKER_HOST="unix:///nonexistent/docker.sock",
        )
        env.update(self.env)
        env["PATH"] = os.pathsep.join([*self.path, env.get("PATH", "")])
        return env


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def _checkout(job: Job, _with: Mapping[str, str]) -> None:
    """A clone of this repository, with the working tree's uncommitted changes on top."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(job.workspace)], check=True)
    changed = _git("diff", "--name-only", "-z", "HEAD").split("\0")
    changed += _git("ls-files", "--others", "--exclude-standard", "-z").split("\0")
    for rel in filter(None, changed):
        source, target = ROOT / rel, job.workspace / rel
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        else:  # deleted in the working tree
            target.unlink(missing_ok=True)


def _setup_python(job: Job, with_: Mapping[str, str]) -> None:
    versions = [v.strip() for v in with_["python-version"].split() if v.strip()]
    # Listed first are extra interpreters; the last one is `python` (setup-python's rule).
    extra = job.home / "toolcache" / "bin"
    extra.mkdir(parents=True, exist_ok=True)
    for version in versions:
        (extra / f"python{version}").symlink_to(pyenv_python(version))
    venv = job.home / "toolcache" / "python"
    subprocess.run([str(pyenv_python(versions[-1])), "-m", "venv", str(venv)], check=True)
    job.path[:0] = [str(venv / "bin"), str(extra)]


def _cache(job: Job, with_: Mapping[str, str]) -> None:
    target = Path(os.path.expanduser(with_["path"].replace("~", str(job.home), 1)))
    key = job.expand(with_["key"])
    prefixes = [job.expand(k) for k in with_.get("restore-keys", "").split() if k]
    stored = sorted(p.name for p in job.run.caches.glob("*")) if job.run.caches.is_dir() else []
    hit = key if key in stored else next(
        (s for p in prefixes for s in reversed(stored) if s.startswith(p)), None
    )
    if hit is not None:
        shutil.copytree(job.run.caches / hit, target, dirs_exist_ok=True, symlinks=True)
    job.run.log.append(f"{job.name}: cache {key}: {'restored ' + hit if hit else 'miss'}")

    def save() -> None:
        if target.is_dir() and key not in stored:
            shutil.copytree(target, job.run.caches / key, symlinks=True)

    job.post.append(save)


def _upload_artifact(job: Job, with_: Mapping[str, str]) -> None:
    name = job.expand(with_["name"])
    found = sorted(glob.glob(str(job.workspace / job.expand(with_["path"]))))
    if not found and with_.get("if-no-files-found") == "error":
        raise AssertionError(f"{job.name}: upload-artifact {name}: no files at {with_['path']}")
    dest = job.run.artifacts / name
    dest.mkdir(parents=True)
    for path in found:
        shutil.copy2(path, dest)


def _download_artifact(job: Job, with_: Mapping[str, str]) -> None:
    dest = job.workspace / job.expand(with_["path"])
    dest.mkdir(parents=True, exist_ok=True)
    pattern = with_.get("pattern", "*")
    for folder in sorted(job.run.artifacts.glob(pattern)):
        target = dest if with_.get("merge-multiple") else dest / folder.name
        shutil.copytree(folder, target, dirs_exist_ok=True)


def _aws_credentials(job: Job, with_: Mapping[str, str]) -> None:
    job.env.update(job.run.aws)
    job.env["AWS_REGION"] = job.env["AWS_DEFAULT_REGION"] = job.expand(with_["aws-region"])
    job.run.log.append(f"{job.name}: AWS role {job.expand(with_['role-to-assume'])} (local S3)")


def _not_run(job: Job, with_: Mapping[str, str]) -> None:
    job.run.log.append(f"{job.name}: attest-build-provenance not run here (needs GitHub OIDC)")


STAND_INS: dict[str, Callable[[Job, Mapping[str, str]], None]] = {
    "actions/checkout": _checkout,
    "actions/setup-python": _setup_python,
    "actions/cache": _cache,
    "actions/upload-artifact": _upload_artifact,
    "actions/download-artifact": _download_artifact,
    "aws-actions/configure-aws-credentials": _aws_credentials,
    "actions/attest-build-provenance": _not_run,
}


def run_job(
    run: Run, workflow: str, job_id: str, matrix: Mapping[str, str] | None = None
) -> list[str]:
    """Run one job of ``workflow``; return the ``run:`` lines it executed."""
    spec = load_workflow(workflow)["jobs"][job_id]
    include = spec.get("strategy", {}).get("matrix", {}).get("include", [])
    if matrix is not None and matrix not in include:
        raise AssertionError(f"{workflow} {job_id}: no matrix entry {dict(matrix)}")
    name = f"{workflow}:{job_id}" + (f"({next(iter(matrix.values()))})" if matrix else "")
    # Short and plain: console-script shebangs break on long paths or parentheses.
    run.jobs += 1
    home = run.base / "jobs" / f"j{run.jobs}"
    job = Job(run, name, spec, matrix or {}, home=home / "home", workspace=home / "work")
    job.home.mkdir(parents=True)
    files = {k: home / f"{k.lower()}" for k in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")}
    for key, path in files.items():
        path.touch()
        job.env[key] = str(path)
    job.env["GITHUB_STEP_SUMMARY"] = str(home / "summary.md")
    job.env.update({k: job.expand(str(v)) for k, v in spec.get("env", {}).items()})
    executed: list[str] = []
    for step in spec["steps"]:
        if "uses" in step:
            action = step["uses"].split("@", 1)[0]
            with_ = {k: str(v) for k, v in step.get("with", {}).items()}
            if action not in STAND_INS:
                raise AssertionError(f"{name}: no local stand-in for {action}")
            STAND_INS[action](job, with_)
            continue
        script = job.expand(step["run"])
        env = job.process_env()
        env.update({k: job.expand(str(v)) for k, v in step.get("env", {}).items()})
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=job.workspace,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        run.log.append(f"{name}: $ {script.strip()} -> exit {done.returncode}")
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-6000:]
            raise AssertionError(f"{name}: step failed: {script.strip()}\n{tail}")
        executed.append(script.strip())
        _absorb(job, files)
    for save in job.post:
        save()
    return executed


def _absorb(job: Job, files: Mapping[str, Path]) -> None:
    """Apply what a step wrote to $GITHUB_ENV and $GITHUB_PATH (simple NAME=value lines)."""
    for line in files["GITHUB_ENV"].read_text().splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            job.env[key] = value
    files["GITHUB_ENV"].write_text("")
    for line in reversed(files["GITHUB_PATH"].read_text().splitlines()):
        if line.strip():
            job.path.insert(0, line.strip())
    files["GITHUB_PATH"].write_text("")
