#!/usr/bin/env bash
# One prepared run on a GPU machine: our wheel and upstream's (for comparison)
# go into separate folders, then the extension tests on CUDA, compute-sanitizer
# over every kernel path, and the kernel benchmark. Results land in $OUT.
#
# usage: scripts/gpu_check.sh WHEEL_DIR   (WHEEL_DIR/ours/*.whl, WHEEL_DIR/upstream/*.whl)
set -uo pipefail
wheels=$(cd "${1:?wheel folder}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$repo/.gpu/out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

python3 -m pip install -q --no-index --no-deps --target /tmp/ours "$wheels"/ours/*.whl || exit 1
if ls "$wheels"/upstream/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/upstream "$wheels"/upstream/*.whl
  upstream=(--upstream-path /tmp/upstream)
else
  upstream=()
fi

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  ls "$wheels"/ours "$wheels"/upstream 2>/dev/null
} >"$out/device.txt" 2>&1
cat "$out/device.txt"

# Outside the repository root, so the source tree's causal_conv1d/ can't shadow the wheel.
# Correctness first, then speed, then the (slow) memory checker: if time runs
# out, what is left undone matters least.
cd /tmp || exit 1
status=0
PYTHONPATH=/tmp/ours OMP_NUM_THREADS=2 timeout "${TESTS_TIMEOUT:-170}" python3 -m pytest \
  "$repo/tests/extension" -q -p no:cacheprovider -n 8 -rfE 2>&1 | tee "$out/tests.log" | tail -n 30 \
  || status=1
PYTHONPATH=/tmp/ours timeout "${BENCH_TIMEOUT:-120}" python3 "$repo/benchmarks/bench_kernels.py" \
  --device cuda "${upstream[@]}" --out "$out" 2>&1 | tee "$out/bench.log" || status=1
PYTHONPATH=/tmp/ours timeout "${MEMCHECK_TIMEOUT:-60}" compute-sanitizer --tool memcheck \
  --error-exitcode 3 python3 "$repo/scripts/sanitize_cases.py" >"$out/memcheck.log" 2>&1 || status=1
tail -n 5 "$out/memcheck.log"
exit $status
