"""Fuzzing wheel intake: random zips, file names and METADATA either publish into an index that
then verifies, or are refused with one UserError line; never another exception, never a change
to the index when refused."""

from __future__ import annotations

import io
import tempfile
import time
import warnings
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from fuzzing import budget, count
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wheel_matrix.errors import UserError
from wheel_matrix.index import build_index
from wheel_matrix.index.store import PlanFacts
from wheel_matrix.index.verify import verify_index
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.fuzz

TOLD = PlanFacts("causal-conv1d", {"2.14": "cu130"}, "https://download.pytorch.org/whl/{compute}",
                 channels=("cpu", "cu130"))

NAMES = st.sampled_from(["causal-conv1d", "causal_conv1d", "Causal.Conv1d", "torch",
                         "causal-cönv1d", "", "a" * 300, "causal-conv1d\nName: torch"])
VERSIONS = st.sampled_from([
    "1.7.0+cu130torch2.14", "1.7.0.0+cu130torch2.14", "1.7+cu130torch2.14",
    "1.7.0+CU130TORCH2.14", "1.7.0+cputorch2.14", "1.7.0+cu999torch2.14", "1.7.0", "banana",
    "1.7.0+cu130torch2.14\n", "9" * 5000, "1.7.0+cu130torch2.14.dev1", "",
])
MEMBER_NAMES = st.one_of(
    st.sampled_from(["causal_conv1d/__init__.py", "../../evil.pth", "/etc/evil", "C:/evil",
                     "a\\..\\b", "causal_conv1d/../../x", "x\x00y", "ok/" + "d/" * 50 + "f"]),
    st.text(max_size=40),
)


@st.composite
def wheels(draw: st.DrawFn) -> tuple[str, bytes]:
    """A file name and the bytes of a zip that may or may not be a wheel."""
    # Half the time the parts of a good wheel, so that what is accepted gets checked too.
    name = draw(st.one_of(st.just("causal-conv1d"), NAMES))
    version = draw(st.one_of(st.sampled_from(["1.8.0+cu130torch2.14", "1.8.0+cputorch2.14"]),
                             VERSIONS))
    dist = name.replace("-", "_").replace(".", "_").lower()
    meta_name = draw(st.one_of(st.just(name), NAMES))
    meta_version = draw(st.one_of(st.just(version), VERSIONS))
    lines = [f"Metadata-Version: {draw(st.sampled_from(['2.1', '2.4', '99', '']))}",
             f"Name: {meta_name}", f"Version: {meta_version}"]
    lines += draw(st.lists(st.sampled_from([
        "Requires-Python: >=3.10", "Requires-Python: banana", "Requires-Dist: torch==2.14.*",
        "Requires-Dist: ((((", "Name: torch", "Version: 2.0", "X-\udcff: y", "Summary: é",
        "Description: " + "x" * 70000,
    ]), max_size=4))
    metadata = ("\n".join(lines) + "\n\n").encode("utf-8", "surrogateescape")
    if draw(st.booleans()):
        metadata = draw(st.binary(max_size=200)) if draw(st.booleans()) else metadata[:-3]
    tag = draw(st.sampled_from(["py3-none-any", "cp310-abi3-linux_x86_64", "py3-none-any.x",
                                "1-py3-none-any", "py3-none"]))
    filename = draw(st.one_of(
        st.just(f"{dist}-{version}-{tag}.whl"),
        st.text(max_size=60).map(lambda t: t.replace("/", "_") + ".whl"),
    ))
    buffer = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", method) as archive:
        warnings.simplefilter("ignore")  # duplicate member names are one of the cases
        info_dir = draw(st.sampled_from([f"{dist}-{version}.dist-info", "x.dist-info", "a/b"]))
        archive.writestr(f"{info_dir}/METADATA", metadata)
        archive.writestr(f"{info_dir}/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        for member in draw(st.lists(MEMBER_NAMES, max_size=3)):
            info = zipfile.ZipInfo(member or "empty")
            if draw(st.booleans()):
                info.external_attr = draw(st.sampled_from([0o120777, 0o100644, 0o040755])) << 16
            archive.writestr(info, b"x")
    data = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip", "garbage"]))
    if damage == "truncate" and data:
        data = data[: draw(st.integers(min_value=0, max_value=len(data) - 1))]
    elif damage == "flip" and data:
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    elif damage == "garbage":
        data = draw(st.binary(max_size=300))
    return filename, data


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# A valid wheel of the project, then the cases that were found accepted or crashing.
GOOD = make_wheel(Path(tempfile.mkdtemp()), "causal-conv1d", "1.7.1+cu130torch2.14")


def raw_wheel(metadata: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("causal_conv1d-1.8.0+cu130torch2.14.dist-info/METADATA", metadata)
    return buffer.getvalue()


FOUND = "causal_conv1d-1.8.0+cu130torch2.14-py3-none-any.whl"


@settings(max_examples=budget(200), deadline=timedelta(seconds=3),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(wheels())
@example((GOOD.name, GOOD.read_bytes()))
@example(("causal_conv1d-1.7.0.0+cu130torch2.14-py3-none-any.whl", GOOD.read_bytes()))
@example(("torch-2.14.0-py3-none-any.whl", GOOD.read_bytes()))
@example(("causal_conv1d-1.7.1+CU130TORCH2.14-py3-none-any.whl", GOOD.read_bytes()))
@example(("causal_conv1d-1.7.1+cu130torch2.14-py3-none-any.whl", b"PK\x05\x06" + b"\0" * 18))
@example(("causal_conv1d-1.7.1+cu130torch2.14-py3-none-any.whl", b""))
# Found by the long profile: a version too long for int() in METADATA.
@example((FOUND, raw_wheel(b"Metadata-Version: 2.1\nName: causal-conv1d\nVersion: " + b"9" * 5000)))
@example(("causal_conv1d\nname: torch-1.7.0+cu130torch2.14-py3-none-any.whl", GOOD.read_bytes()))
def test_a_wheel_is_published_whole_or_refused_in_one_line(wheel: tuple[str, bytes]) -> None:
    filename, data = wheel
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        index = root / "index"
        build_index([GOOD], index, told=TOLD)  # the published state a new wheel meets
        before = snapshot(index)
        path = root / "store" / filename
        try:
            path.parent.mkdir()
            path.write_bytes(data)
        except (OSError, ValueError):  # a name this file system cannot hold: not our input
            count("wheel intake", "unwritable name")
            return
        start = time.process_time()  # CPU time: a busy machine must not fail the test
        try:
            build_index([path], index, told=TOLD)
        except UserError as err:
            message = str(err)
            assert "\n" not in message and len(message) < 1000, message[:2000]
            assert snapshot(index) == before
            outcome = "refused"
        else:
            outcome = "published"
        assert time.process_time() - start < 2.0
        report = verify_index(str(index))
        assert report.ok, [str(f) for f in report.faults]  # what got in, verifies
        count("wheel intake", outcome)
