"""Time causal-conv1d kernels: ours, upstream's (optional) and an F.conv1d reference.

Each implementation runs in its own worker process, so upstream's package,
which has the same import name as ours, can be timed in the same run:

    python benchmarks/bench_kernels.py --device cuda --upstream-path DIR
    python benchmarks/bench_kernels.py --device cpu --quick

DIR is a directory holding upstream's ``causal_conv1d`` (e.g. made with
``pip install --no-deps --target DIR causal-conv1d==1.7.0``); it is put first
on the worker's sys.path. Results are printed and saved as markdown and JSON
under --out, named after the device and the date.

Throughput counts every byte the op must read and write once (inputs, outputs,
weights, and for decoding the state read and written back). On CUDA it is also
shown as a fraction of the card's device-to-device copy bandwidth.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
IMPLS = ("ours", "upstream", "reference")
WIDTH = 4

Case = dict[str, Any]


# ---------------------------------------------------------------- cases


def make_cases(quick: bool) -> list[Case]:
    if quick:
        conv_shapes = [
            (2, 1024, 2048, "bfloat16"),
            (2, 1024, 2048, "float32"),
            (1, 512, 16384, "bfloat16"),
        ]
    else:
        conv_shapes = [
            (8, 4096, 4096, "bfloat16"),
            (8, 4096, 4096, "float32"),
            (1, 2048, 131072, "bfloat16"),
        ]
    cases: list[Case] = []
    for op in ("forward", "backward"):
        for batch, dim, seqlen, dtype in conv_shapes:
            cases.append(
                {
                    "op": op,
                    "batch": batch,
                    "dim": dim,
                    "seqlen": seqlen,
                    "dtype": dtype,
                    "state_len": 0,
                }
            )
    for batch in (64, 128, 256):
        cases.append(
            {
                "op": "update",
                "batch": batch,
                "dim": 4096,
                "seqlen": 1,
                "dtype": "bfloat16",
                "state_len": WIDTH - 1,
            }
        )
    return cases


def bytes_moved(case: Case) -> int:
    """Bytes read plus bytes written, each counted once."""
    b, d, n, s = case["batch"], case["dim"], case["seqlen"], case["state_len"]
    es = torch.empty((), dtype=getattr(torch, case["dtype"])).element_size()
    params = (d * WIDTH + d) * es  # weight and bias, in x's dtype here
    if case["op"] == "forward":
        return 2 * b * d * n * es + params  # x in, out
    if case["op"] == "backward":
        return 3 * b * d * n * es + 2 * params  # x, dout in; dx out; dweight, dbias out
    return 2 * b * d * n * es + 2 * b * d * s * es + params  # x, out, state read + written


def shape_text(case: Case) -> str:
    if case["op"] == "update":
        return f"B={case['batch']} D={case['dim']} L=1 S={case['state_len']}"
    return f"B={case['batch']} D={case['dim']} L={case['seqlen']}"


# ---------------------------------------------------------------- worker side


def load_impl(impl: str) -> tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor], str]:
    """(conv_fn(x, w, b), update_fn(x, state, w, b), description) of an implementation."""
    if impl == "reference":

        def conv_ref(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            out = F.conv1d(x, w.unsqueeze(1), b, padding=w.shape[1] - 1, groups=x.shape[1])
            return F.silu(out[..., : x.shape[-1]])

        def update_ref(
            x: torch.Tensor, state: torch.Tensor, w: torch.Tensor, b: torch.Tensor
        ) -> torch.Tensor:
            xs = torch.cat([state, x], dim=-1)
            state.copy_(xs[..., -state.shape[-1] :])
            out = F.conv1d(xs, w.unsqueeze(1), b, groups=x.shape[1])[..., -x.shape[-1] :]
            return F.silu(out)

        return conv_ref, update_ref, f"F.conv1d (torch {torch.__version__})"

    import causal_conv1d
    from causal_conv1d import causal_conv1d_fn, causal_conv1d_update

    def conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return causal_conv1d_fn(x, w, b, activation="silu")

    def update(
        x: torch.Tensor, state: torch.Tensor, w: torch.Tensor, b: torch.Tensor
    ) -> torch.Tensor:
        return causal_conv1d_update(x, state, w, b, "silu")

    where = Path(causal_conv1d.__file__).resolve().parent
    return conv, update, f"causal_conv1d {causal_conv1d.__version__} from {where}"


def timer(device: str, fn: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    """Per-call seconds: CUDA events on GPU, perf_counter on CPU."""
    for _ in range(warmup):
        fn()
    times = []
    if device == "cuda":
        torch.cuda.synchronize()
        for _ in range(repeats):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
    else:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times


def run_case(
    case: Case,
    device: str,
    conv: Callable[..., torch.Tensor],
    update: Callable[..., torch.Tensor],
    repeats: int,
) -> float:
    torch.manual_seed(0)
    dtype = getattr(torch, case["dtype"])
    b, d, n = case["batch"], case["dim"], case["seqlen"]
    weight = torch.randn(d, WIDTH, device=device, dtype=dtype)
    bias = torch.randn(d, device=device, dtype=dtype)
    warmup = 3 if device == "cuda" else 1
    if case["op"] == "update":
        x = torch.randn(b, d, 1, device=device, dtype=dtype)
        state = torch.randn(b, d, case["state_len"], device=device, dtype=dtype)
        times = timer(device, lambda: update(x, state, weight, bias), repeats, warmup)
    elif case["op"] == "forward":
        x = torch.randn(b, d, n, device=device, dtype=dtype)
        with torch.no_grad():
            times = timer(device, lambda: conv(x, weight, bias), repeats, warmup)
    else:
        x = torch.randn(b, d, n, device=device, dtype=dtype, requires_grad=True)
        weight.requires_grad_()
        bias.requires_grad_()
        out = conv(x, weight, bias)
        dout = torch.randn_like(out)

        def backward() -> object:
            return torch.autograd.grad(out, (x, weight, bias), dout, retain_graph=True)

        times = timer(device, backward, repeats, warmup)
    return statistics.median(times)


def worker_main(impl: str, device: str, cases: list[Case], repeats: int) -> None:
    if impl == "upstream":
        # Only the upstream directory may provide causal_conv1d here.
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT]
    elif impl == "ours":
        try:
            import causal_conv1d._ops  # noqa: F401
        except ImportError:
            # Fall back to an in-place build of this checkout.
            for name in [m for m in sys.modules if m.split(".")[0] == "causal_conv1d"]:
                del sys.modules[name]
            sys.path.insert(0, str(REPO_ROOT))
    conv, update, description = load_impl(impl)
    results = []
    for case in cases:
        try:
            seconds: float | None = run_case(case, device, conv, update, repeats)
            error = None
        except Exception as exc:  # recorded in the table, e.g. out of memory
            seconds, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        results.append({**case, "seconds": seconds, "error": error})
        if device == "cuda":
            torch.cuda.empty_cache()
    print(json.dumps({"impl": impl, "description": description, "results": results}))


# ---------------------------------------------------------------- driver side


def run_worker(
    impl: str, device: str, cases: list[Case], repeats: int, upstream_path: Path | None
) -> dict[str, Any]:
    env = dict(os.environ)
    if impl == "upstream" and upstream_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(upstream_path)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        impl,
        "--device",
        device,
        "--repeats",
        str(repeats),
        "--cases",
        json.dumps(cases),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"impl": impl, "description": "unavailable: " + " | ".join(tail), "results": []}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def copy_bandwidth(device: str) -> float | None:
    """Device-to-device copy GB/s (bytes read + written), from a 1 GiB copy."""
    if device != "cuda":
        return None
    n = (1 << 30) // 4
    src = torch.empty(n, dtype=torch.float32, device="cuda").uniform_()
    dst = torch.empty_like(src)

    def copy() -> object:
        return dst.copy_(src)

    seconds = statistics.median(timer("cuda", copy, 20, 3))
    return 2 * n * 4 / seconds / 1e9


def environment(device: str) -> dict[str, str]:
    info = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host_cpu": cpu_name(),
        "threads": str(torch.get_num_threads()),
    }
    if device == "cuda":
        info["device"] = torch.cuda.get_device_name()
        info["cuda"] = str(torch.version.cuda)
        info["driver"] = nvidia_driver()
    else:
        info["device"] = cpu_name()
    return info


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_driver() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]


def render(
    cases: list[Case], runs: dict[str, dict[str, Any]], copy_gbs: float | None, info: dict[str, str]
) -> str:
    impls = [i for i in IMPLS if i in runs]
    lines = ["# causal-conv1d kernel benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    if copy_gbs is not None:
        lines.append(f"- device copy bandwidth: {copy_gbs:.0f} GB/s")
    lines += [f"- {impl}: {runs[impl]['description']}" for impl in impls]
    lines.append("")
    header = ["op", "shape", "dtype"]
    for impl in impls:
        header += [f"{impl} ms", f"{impl} GB/s"] + ([f"{impl} %copy"] if copy_gbs else [])
    if "upstream" in impls:
        header.append("ours speedup vs upstream")
    if "reference" in impls:
        header.append("ours speedup vs reference")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, case in enumerate(cases):
        row = [case["op"], shape_text(case), case["dtype"]]
        seconds: dict[str, float | None] = {}
        for impl in impls:
            results = runs[impl]["results"]
            sec = results[i]["seconds"] if i < len(results) else None
            seconds[impl] = sec
            if sec is None:
                row += ["-", "-"] + (["-"] if copy_gbs else [])
                continue
            gbs = bytes_moved(case) / sec / 1e9
            row += [f"{sec * 1e3:.3f}", f"{gbs:.0f}"]
            if copy_gbs:
                row.append(f"{100 * gbs / copy_gbs:.0f}%")
        for other in ("upstream", "reference"):
            if other in impls:
                ours, theirs = seconds.get("ours"), seconds.get(other)
                row.append(f"{theirs / ours:.2f}x" if ours and theirs else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="smaller shapes (for CPUs)")
    parser.add_argument("--upstream-path", type=Path, help="directory holding upstream's package")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    parser.add_argument("--repeats", type=int, help="timed calls per case (median is kept)")
    parser.add_argument("--no-reference", action="store_true", help="skip the F.conv1d rows")
    parser.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--cases", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no CUDA device")
    repeats = args.repeats or (20 if args.device == "cuda" else 3)
    if args.worker:
        worker_main(args.worker, args.device, json.loads(args.cases), repeats)
        return 0

    cases = make_cases(args.quick)
    impls = ["ours"]
    if args.upstream_path is not None:
        if not (args.upstream_path / "causal_conv1d").is_dir():
            parser.error(f"--upstream-path {args.upstream_path} has no causal_conv1d package")
        impls.append("upstream")
    if not args.no_reference:
        impls.append("reference")
    runs = {}
    for impl in impls:
        print(f"timing {impl} ...", file=sys.stderr, flush=True)
        runs[impl] = run_worker(impl, args.device, cases, repeats, args.upstream_path)
    copy_gbs = copy_bandwidth(args.device)
    if args.device == "cuda":
        torch.cuda.empty_cache()
    info = environment(args.device)
    table = render(cases, runs, copy_gbs, info)
    print(table)

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    kind = slug(info["device"]) if args.device == "cuda" else "cpu-" + slug(info["device"])
    stem = args.out / f"bench_{kind}_{stamp}{'_quick' if args.quick else ''}"
    stem.with_suffix(".md").write_text(table, encoding="utf-8")
    raw = {
        "environment": info,
        "copy_gbs": copy_gbs,
        "cases": cases,
        "runs": runs,
        "bytes": [bytes_moved(c) for c in cases],
    }
    stem.with_suffix(".json").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    print(f"saved {stem}.md and {stem}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
