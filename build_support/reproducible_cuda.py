"""nvcc and its host compiler, wrapped so that CUDA builds keep the build's folders out.

setup.py (``CAUSAL_CONV1D_REPRODUCIBLE``) writes two launchers that run this
script: one as ``$PYTORCH_NVCC``, one as nvcc's ``-ccbin``. The paths a
build must not record are those of its ``-ffile-prefix-map`` options, which
setup.py passes to nvcc's host compiler with ``-Xcompiler``; both roles read
the maps from there and apply them where gcc can't.

``nvcc`` role, for each ``nvcc ... -c SOURCE`` call:
  * SOURCE is given relative to the working directory: nvcc copies the name
    it is given into the fatbinary (``--ident``), so an absolute one would
    carry the build folder;
  * ``-Xcudafe --orig_src_path_name=MAPPED``: nvcc's front end hashes the
    source's absolute path into the names of anonymous namespaces and
    internal entities (libcu++ has many), so it gets the mapped path;
  * ``-frandom-seed=MAPPED``: nvcc and gcc replace the random numbers in
    such names with this seed, one per file as nvcc asks.
Then it runs the nvcc named by ``$CAUSAL_CONV1D_NVCC`` (a ccache link, or the
toolkit's own).

``gcc`` role: nvcc preprocesses each source with its host compiler, and its
device compiler takes the file names of line information (``-lineinfo``)
from that output's line markers, made absolute against the working
directory. gcc applies ``-ffile-prefix-map`` to ``__FILE__`` and debug
information but not to line markers; this role runs the ``gcc`` on PATH and
rewrites the line markers of the files it preprocesses into (``-o``) with the
same maps, the last matching map winning as in gcc. Preprocessed text on
stdout is what ``nvcc -E`` prints, which ccache reads to find the included
files: that keeps the real paths.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

_MARKER = re.compile(rb'^(# \d+ ")([^"\n]*)(")', re.MULTILINE)
_OPTION = "-ffile-prefix-map="


def prefix_maps(args: list[str]) -> list[tuple[str, str]]:
    """The (old, new) pairs of every ``-ffile-prefix-map=old=new`` in ``args``, in order."""
    maps = []
    for arg in args:
        if arg.startswith(_OPTION) and "=" in arg[len(_OPTION) :]:
            old, new = arg[len(_OPTION) :].split("=", 1)
            maps.append((old, new))
    return maps


def remap(path: str, maps: list[tuple[str, str]], cwd: str) -> str:
    """``path`` as absolute (against ``cwd``, as nvcc's device compiler takes it), mapped."""
    if path.startswith("<"):  # <built-in>, <command-line>
        return path
    full = os.path.normpath(os.path.join(cwd, path))
    for old, new in reversed(maps):
        if full.startswith(old):
            return new + full[len(old) :]
    return full


def rewrite_markers(text: bytes, maps: list[tuple[str, str]], cwd: str) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        path = os.fsdecode(match.group(2))
        return match.group(1) + os.fsencode(remap(path, maps, cwd)) + match.group(3)

    return _MARKER.sub(one, text)


def nvcc(args: list[str]) -> int:
    real = os.environ.get("CAUSAL_CONV1D_NVCC", "")
    if not real:
        print("error: CAUSAL_CONV1D_NVCC names no nvcc", file=sys.stderr)
        return 127
    args = list(args)
    # torch's build rule says `-c` twice (in its flags and before the source), so the
    # source is found by its suffix.
    sources = [i for i, a in enumerate(args) if a.endswith(".cu") and not a.startswith("-")]
    if "-c" in args and len(sources) == 1:
        at = sources[0]
        source = os.path.abspath(args[at])
        cwd = os.getcwd()
        mapped = remap(source, prefix_maps(args), cwd)
        args[at] = os.path.relpath(source, cwd)
        args += [f"-frandom-seed={mapped}", "-Xcudafe", f"--orig_src_path_name={mapped}"]
    os.execvp(real, [real, *args])
    return 127  # not reached


def host_compiler(args: list[str]) -> int:
    compiler = shutil.which("gcc")
    if compiler is None:
        print("error: gcc not found on PATH", file=sys.stderr)
        return 127
    maps = prefix_maps(args)
    if "-E" not in args or "-o" not in args[:-1] or not maps:
        os.execv(compiler, [compiler, *args])
    output = args[args.index("-o") + 1]
    code = subprocess.call([compiler, *args])
    if code == 0 and os.path.isfile(output):
        with open(output, "rb") as handle:
            text = handle.read()
        with open(output, "wb") as handle:
            handle.write(rewrite_markers(text, maps, os.getcwd()))
    return code


if __name__ == "__main__":
    role, rest = sys.argv[1], sys.argv[2:]
    sys.exit(nvcc(rest) if role == "nvcc" else host_compiler(rest))
