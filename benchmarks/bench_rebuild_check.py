"""What `rebuild-check` costs, against the build it checks: one build, and a little more.

The working tree is committed into a scratch repository (so the wheel is a
clean build of a commit, whatever the checkout holds), one cell is built from
it with the host backend, and `python -m wheel_matrix rebuild-check` checks
that wheel twice: with a cold compile cache (a fresh cache of its own, as on
a machine that never built this cell) and with a warm one (the cache of the
build it checks). Both caches share the build's torch venv, which is
prepared first and not timed. The check must report identical every time.

    python benchmarks/bench_rebuild_check.py                  # the newest torch's CPU cell
    python benchmarks/bench_rebuild_check.py --cell torch2.15-cu132 --arch-list 9.0

The result is written to benchmarks/results/rebuild_check-<cell>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wheel_matrix import log  # noqa: E402
from wheel_matrix.backends.options import default_cache  # noqa: E402
from wheel_matrix.configuration import matrix_file  # noqa: E402
from wheel_matrix.plan import cells, find_cell  # noqa: E402

COMMIT_DATE = "1764000000 +0000"


def newest_cpu_cell() -> str:
    x86 = [c for c in cells(matrix_file.load()) if c.arch == "x86_64" and c.cuda is None]
    return max(x86, key=lambda c: tuple(map(int, c.torch.minor.split(".")))).id


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.org",
           "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def snapshot(repo: Path) -> None:
    """The working tree as it is, committed in a new repository at ``repo``."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "benchmark snapshot")


def new_cache(path: Path) -> Path:
    """A build cache of its own (compile cache, build trees) sharing the torch venvs."""
    shared = default_cache() / "venvs"
    shared.mkdir(parents=True, exist_ok=True)
    path.mkdir(parents=True)
    (path / "venvs").symlink_to(shared)
    return path


def timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    log.command(argv)
    start = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(argv[2:4])} failed:\n{done.stdout}{done.stderr[-3000:]}")
    return seconds, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default=None, help="default: the newest torch's CPU cell")
    parser.add_argument("--arch-list", default=None, help="TORCH_CUDA_ARCH_LIST for CUDA cells")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cell = find_cell(matrix_file.load(), args.cell or newest_cpu_cell())
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-check-") as tmp:
        work = Path(tmp)
        repo = work / "repo"
        repo.mkdir()
        snapshot(repo)
        build_cache = new_cache(work / "cache-build")
        arch = ["--arch-list", args.arch_list] if args.arch_list else []
        build = [python, "-m", "wheel_matrix", "build", "--backend", "host", "--cell", cell.id,
                 "--dist", str(work / "dist"), "--cache", str(build_cache), *arch]
        with log.step("prepare (not timed): the build venv, by a first build"):
            timed([*build[:-2], "--cache", str(new_cache(work / "cache-prepare"))], repo)
        with log.step(f"build {cell.id}"):
            build_seconds, _ = timed(build, repo)
        (wheel,) = sorted((work / "dist" / "wheels").glob("*.whl"))
        checks = {}
        for kind, cache in (("cold", new_cache(work / "cache-check")), ("warm", build_cache)):
            argv = [python, "-m", "wheel_matrix", "rebuild-check", str(wheel), "--repo",
                    str(repo), "--cache", str(cache)]
            with log.step(f"rebuild-check, {kind} compile cache"):
                seconds, out = timed(argv, ROOT)
            if not out.startswith("identical:"):
                sys.exit(f"error: rebuild-check did not report identical:\n{out}")
            checks[kind] = seconds
    record = {
        "cell": cell.id,
        "wheel": wheel.name,
        "arch_list": args.arch_list or "",
        "build_seconds": round(build_seconds, 1),
        "check_cold_seconds": round(checks["cold"], 1),
        "check_warm_seconds": round(checks["warm"], 1),
        "check_cold_over_build": round(checks["cold"] / build_seconds, 2),
        "check_warm_over_build": round(checks["warm"] / build_seconds, 2),
        "result": "identical",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"rebuild_check-{cell.id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    rows = [[cell.id, log.format_duration(build_seconds),
             log.format_duration(checks["cold"]), f"{checks['cold'] / build_seconds:.2f}",
             log.format_duration(checks["warm"]), f"{checks['warm'] / build_seconds:.2f}"]]
    table = log.table(["cell", "build", "check (cold)", "cold/build", "check (warm)",
                       "warm/build"], rows, title="rebuild-check")
    print(table)
    md = out.with_suffix(".md")
    md.write_text(
        f"# rebuild-check of {cell.id} ({record['date']}, {record['machine']})\n\n"
        "| build | rebuild-check, cold compile cache | ratio | rebuild-check, warm | ratio |\n"
        "| --- | --- | --- | --- | --- |\n"
        f"| {rows[0][1]} | {rows[0][2]} | {rows[0][3]} | {rows[0][4]} | {rows[0][5]} |\n\n"
        f"Every check reported identical (`{wheel.name}`).\n"
    )
    print(f"recorded in {out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
