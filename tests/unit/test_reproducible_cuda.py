"""build_support/reproducible_cuda.py: what nvcc and its host compiler get, without compiling.

Its two roles run as real processes here, with stand-ins for nvcc and gcc
that record their arguments and write what gcc -E would: the wrapper's
rewriting is what is under test, not the compilers (the e2e builds compile).
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "build_support" / "reproducible_cuda.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reproducible_cuda", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cuda = load()
MAPS = [("/b/venv/", "/python/"), ("/b/venv/site/", "/site-packages/"), ("/b/src/", "/cc/")]


def test_the_last_matching_map_wins_as_in_gcc() -> None:
    assert cuda.remap("/b/venv/site/torch/a.h", MAPS, "/") == "/site-packages/torch/a.h"
    assert cuda.remap("/b/venv/include/x.h", MAPS, "/") == "/python/include/x.h"
    assert cuda.remap("/usr/include/stdio.h", MAPS, "/") == "/usr/include/stdio.h"
    assert cuda.remap("<built-in>", MAPS, "/") == "<built-in>"
    # Relative names are joined to the working directory first, as nvcc's device compiler does.
    assert cuda.remap("../../csrc/a.cu", MAPS, "/b/src/build/temp") == "/cc/csrc/a.cu"


def test_line_markers_are_rewritten_and_nothing_else() -> None:
    text = (b'# 0 "/b/src/csrc/a.cu"\n# 1 "<built-in>"\nint x; // "/b/src/csrc/a.cu"\n'
            b'# 12 "/b/venv/site/torch/t.h" 1 3\n')
    assert cuda.rewrite_markers(text, MAPS, "/") == (
        b'# 0 "/cc/csrc/a.cu"\n# 1 "<built-in>"\nint x; // "/b/src/csrc/a.cu"\n'
        b'# 12 "/site-packages/torch/t.h" 1 3\n'
    )


def stand_in(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys, os\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_nvcc_role_names_the_source_relatively_and_seeds_from_its_mapped_path(
    tmp_path: Path,
) -> None:
    log = tmp_path / "args"
    nvcc = stand_in(tmp_path, "nvcc", f"open({str(log)!r}, 'w').write('\\n'.join(sys.argv[1:]))")
    build = tmp_path / "src" / "build" / "temp"
    build.mkdir(parents=True)
    source = tmp_path / "src" / "csrc" / "a.cu"
    prefix = f"-ffile-prefix-map={tmp_path / 'src'}/=/causal-conv1d/"
    # torch's rule says -c twice: the source is found by its suffix.
    argv = [sys.executable, str(SCRIPT), "nvcc", "-MD", "-MF", "a.o.d", "-c", "-c", str(source),
            "-o", str(build / "a.o"), "-Xcompiler", prefix]
    subprocess.run(argv, cwd=build, env={**os.environ, "CAUSAL_CONV1D_NVCC": str(nvcc)},
                   check=True)
    args = log.read_text().splitlines()
    assert "../../csrc/a.cu" in args and str(source) not in args
    assert args[-3:] == [
        "-frandom-seed=/causal-conv1d/csrc/a.cu",
        "-Xcudafe",
        "--orig_src_path_name=/causal-conv1d/csrc/a.cu",
    ]


def test_gcc_role_rewrites_files_it_preprocesses_into_but_not_stdout(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A gcc that "preprocesses": writes one line marker naming the build folder.
    stand_in(bin_dir, "gcc", (
        "text = b'# 1 \"' + os.getcwd().encode() + b'/x.cu\"\\nint a;\\n'\n"
        "args = sys.argv[1:]\n"
        "if '-o' in args: open(args[args.index('-o') + 1], 'wb').write(text)\n"
        "else: sys.stdout.buffer.write(text)"
    ))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    prefix = f"-ffile-prefix-map={tmp_path}/=/causal-conv1d/"
    base = [sys.executable, str(SCRIPT), "gcc", "-E", "-x", "c++", prefix, "x.cu"]
    subprocess.run([*base, "-o", "x.ii"], cwd=tmp_path, env=env, check=True)
    assert (tmp_path / "x.ii").read_bytes() == b'# 1 "/causal-conv1d/x.cu"\nint a;\n'
    # `nvcc -E` output (what ccache reads for the included files) keeps the real paths.
    out = subprocess.run(base, cwd=tmp_path, env=env, check=True, capture_output=True).stdout
    assert out == b'# 1 "' + str(tmp_path).encode() + b'/x.cu"\nint a;\n'
