"""Index scale: generation time for 100/1,000/5,000 wheels, the cost of adding one,
and the bytes a real uv resolution downloads from the served index.

Run: python benchmarks/bench_index.py [--sizes 100 1000 5000]
Writes benchmarks/results/bench_index.json and .md. Wheels are small but valid
(METADATA, WHEEL, RECORD), spread over channels and torch minors like the matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from wheel_matrix.index import build_index
from wheel_matrix.index.installers import resolve_uv, stand_ins
from wheel_matrix.index.serve import serving
from wheel_matrix.plan.label import Label
from wheel_matrix.wheel.make import make_wheel

COMPUTES = ["cpu", "cu126", "cu128", "cu130"]
TORCHES = ["2.10", "2.11", "2.12", "2.13", "2.14"]
RESULTS = Path(__file__).parent / "results"


def make_wheels(folder: Path, count: int, start: int = 0) -> list[Path]:
    out = []
    for i in range(start, start + count):
        compute = COMPUTES[i % len(COMPUTES)]
        torch = TORCHES[(i // len(COMPUTES)) % len(TORCHES)]
        release = i // (len(COMPUTES) * len(TORCHES))
        version = f"1.{release // 100}.{release % 100}+{compute}torch{torch}"
        out.append(
            make_wheel(
                folder,
                "causal-conv1d",
                version,
                requires_python=">=3.10",
                requires_dist=[f"torch=={torch}.*"],
            )
        )
    return out


def resolution(index: Path, tmp: Path, what: str) -> dict[str, object]:
    """Bytes real uv downloads to resolve causal-conv1d for torch 2.14 in channel cu130."""
    channel = "cu130"
    total = sum(p.stat().st_size for p in (index / channel).rglob("*.whl"))
    record: list[tuple[str, str, int]] = []
    with serving(index, record=record) as url:
        want = Label(channel, "2.14")
        got = resolve_uv(f"{url}{channel}/", "causal-conv1d", want, tmp / "links", tmp)
    fetched = sum(size for _, _, size in record)
    print(
        f"uv resolution ({what}): fetched {fetched} of {total} wheel bytes "
        f"({100 * fetched / total:.2f} %), resolved {got.got}",
        flush=True,
    )
    return {
        "index": what,
        "installer": "uv pip compile (real uv), torch==2.14.*",
        "channel": channel,
        "resolved": got.got,
        "requests": [p for p, _, _ in record],
        "bytes_fetched": fetched,
        "channel_wheel_bytes": total,
        "percent": round(100 * fetched / total, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    args = parser.parse_args()
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {sys.platform}",
    }
    generation = []
    add_one = []
    with tempfile.TemporaryDirectory(prefix="bench-index-") as name:
        tmp = Path(name)
        wheels = make_wheels(tmp / "wheels", max(args.sizes))
        for size in args.sizes:
            out = tmp / f"index-{size}"
            # Flush earlier writes first: a publish's fsyncs would otherwise pay for them.
            os.sync()
            start = time.perf_counter()
            build_index(wheels[:size], out)
            seconds = time.perf_counter() - start
            generation.append(
                {
                    "wheels": size,
                    "seconds": round(seconds, 3),
                    "ms_per_wheel": round(1000 * seconds / size, 3),
                }
            )
            print(f"generate {size:>5} wheels: {seconds:.2f}s", flush=True)
            extra = make_wheels(tmp / f"extra-{size}", 1, start=max(args.sizes) + size)
            os.sync()
            start = time.perf_counter()
            report = build_index(extra, out)
            seconds = time.perf_counter() - start
            add_one.append(
                {
                    "index_wheels": size,
                    "seconds": round(seconds, 4),
                    "files_written": len(report.written),
                    "pages_written": list(report.pages_written),
                }
            )
            print(
                f"add one to {size:>5}: {seconds * 1000:.1f} ms, {len(report.pages_written)} pages",
                flush=True,
            )
        stand_ins(tmp / "links", "2.14", [])
        largest = tmp / f"index-{max(args.sizes)}"
        results["resolution"] = resolution(largest, tmp, "tiny wheels of the largest index")
        # The same resolution where each wheel has a payload of a realistic order
        # (real CUDA builds are larger still): 4 MiB of incompressible bytes.
        heavy = [
            make_wheel(
                tmp / "heavy",
                "causal-conv1d",
                f"1.{i}.0+cu130torch{t}",
                requires_dist=[f"torch=={t}.*"],
                files={"causal_conv1d/_blob.bin": os.urandom(4 << 20)},
            )
            for i in range(3)
            for t in TORCHES
        ]
        build_index(heavy, tmp / "index-heavy")
        results["resolution_4mib"] = resolution(tmp / "index-heavy", tmp, "15 wheels of 4 MiB")
        shutil.rmtree(tmp / "wheels")
    results["generation"] = generation
    results["add_one"] = add_one
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_index.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [
        "# Index benchmark",
        "",
        f"Machine: {results['machine']}",
        "",
        "| wheels | generate (s) | ms/wheel | add one (ms) | pages touched by add |",
        "|---|---|---|---|---|",
    ]
    for g, a in zip(generation, add_one, strict=True):
        lines.append(
            f"| {g['wheels']} | {g['seconds']} | {g['ms_per_wheel']} | "
            f"{float(str(a['seconds'])) * 1000:.1f} | {len(a['pages_written'])} |"
        )  # type: ignore[arg-type]
    lines += [
        "",
        "| uv resolution (cu130, torch 2.14) | requests | bytes fetched | "
        "wheel bytes in channel | % | resolved |",
        "|---|---|---|---|---|---|",
    ]
    for key in ("resolution", "resolution_4mib"):
        r = results[key]
        assert isinstance(r, dict)
        lines.append(
            f"| {r['index']} | {len(r['requests'])} | {r['bytes_fetched']} | "
            f"{r['channel_wheel_bytes']} | {r['percent']} | {r['resolved']} |"
        )
    lines.append("")
    (RESULTS / "bench_index.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
