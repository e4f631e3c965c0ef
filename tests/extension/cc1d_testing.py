"""Shared helpers for the extension tests: devices, dtypes, tolerances, inputs.

Importing this module skips the importing test module when the compiled
extension is missing or was built for another torch, unless
CAUSAL_CONV1D_TESTS_REQUIRE_EXTENSION=1 says a wheel was just installed for
these tests (`nox -s tests` sets it): then that is the very failure this
project exists to prevent, and every module fails instead.
"""

from __future__ import annotations

import os

import pytest
import torch

try:
    import causal_conv1d._ops  # noqa: F401
except ImportError as exc:
    message = f"the compiled causal_conv1d extension is not importable: {exc}"
    if os.environ.get("CAUSAL_CONV1D_TESTS_REQUIRE_EXTENSION") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)

HAS_CUDA = torch.cuda.is_available()

# "cuda" is always listed so test ids are stable; it skips without a GPU.
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")],
    ),
]

F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16

# (x dtype, weight dtype): same-type pairs and mixed pairs.
DTYPE_PAIRS = [(F32, F32), (F16, F16), (BF16, BF16), (F32, BF16), (BF16, F32), (F16, F32)]

TOLERANCES = {
    torch.float64: (1e-9, 1e-9),
    F32: (3e-4, 1e-3),
    F16: (3e-3, 5e-3),
    BF16: (1e-2, 5e-2),
}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    """Compare in float32/64 with the tolerance of `dtype` (the output's storage type)."""
    rtol, atol = TOLERANCES[dtype]
    work = torch.float64 if dtype == torch.float64 else torch.float32
    torch.testing.assert_close(
        actual.to(work), expected.to(work), rtol=rtol, atol=atol, equal_nan=False
    )


def make_x(
    batch: int, dim: int, seqlen: int, dtype: torch.dtype, device: str, channel_last: bool
) -> torch.Tensor:
    """A (batch, dim, seqlen) tensor stored channel-first or channel-last."""
    if channel_last:
        return torch.randn(batch, seqlen, dim, dtype=dtype, device=device).transpose(1, 2)
    return torch.randn(batch, dim, seqlen, dtype=dtype, device=device)


def make_states(
    batch: int, dim: int, width: int, dtype: torch.dtype, device: str, channel_last: bool
) -> torch.Tensor:
    return make_x(batch, dim, width - 1, dtype, device, channel_last)


def make_seq_idx(batch: int, seqlen: int, device: str, with_padding: bool = True) -> torch.Tensor:
    """Several sequences per row, optionally with a negative (padding) span."""
    seq = torch.zeros(batch, seqlen, dtype=torch.int32)
    for b in range(batch):
        cuts = sorted(torch.randint(0, max(seqlen, 1), (3,)).tolist())
        for i, c in enumerate(cuts):
            seq[b, c:] = i + 1
        if with_padding and seqlen >= 8 and b % 2 == 0:
            seq[b, seqlen // 2 : seqlen // 2 + 3] = -1
    return seq.to(device)
