"""causal_conv1d_update: outputs against the reference, exact state updates."""

from __future__ import annotations

import pytest
import torch
from cc1d_testing import BF16, DEVICES, F32, assert_close

from causal_conv1d import causal_conv1d_update
from causal_conv1d.causal_conv1d_interface import causal_conv1d_update_ref

pytestmark = pytest.mark.extension

DTYPE_PAIRS = [(F32, F32), (BF16, BF16), (F32, BF16), (BF16, F32)]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _run_both(
    x: torch.Tensor,
    state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str | None,
    cache_seqlens: torch.Tensor | None,
    indices: torch.Tensor | None,
) -> None:
    ours_state, ref_state = state.clone(), state.clone()
    out = causal_conv1d_update(x, ours_state, weight, bias, activation, cache_seqlens, indices)
    ref = causal_conv1d_update_ref(x, ref_state, weight, bias, activation, cache_seqlens, indices)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert_close(out, ref, x.dtype)
    # The state holds copies of inputs: bit-exact, including untouched rows.
    assert torch.equal(ours_state, ref_state)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize("state_extra", [0, 3], ids=["S=W-1", "S=W+2"])
@pytest.mark.parametrize("seqlen", [1, 3])
@pytest.mark.parametrize(
    "dtypes", DTYPE_PAIRS, ids=lambda p: f"{p[0]}-{p[1]}".replace("torch.", "")
)
def test_plain_update(
    device: str, width: int, state_extra: int, seqlen: int, dtypes: tuple[torch.dtype, ...]
) -> None:
    xtype, wtype = dtypes
    batch, dim = 3, 37
    state_len = width - 1 + state_extra
    x = torch.randn(batch, dim, seqlen, dtype=xtype, device=device)
    state = torch.randn(batch, dim, state_len, dtype=xtype, device=device)
    weight = torch.randn(dim, width, dtype=wtype, device=device)
    bias = torch.randn(dim, dtype=wtype, device=device)
    _run_both(x, state, weight, bias, "silu", None, None)
    _run_both(x, state, weight, None, None, None, None)


@pytest.mark.parametrize("device", DEVICES)
def test_two_dim_input_is_squeezed(device: str) -> None:
    x = torch.randn(4, 16, device=device)
    state = torch.randn(4, 16, 3, device=device)
    weight = torch.randn(16, 4, device=device)
    _run_both(x, state, weight, None, "silu", None, None)
    out = causal_conv1d_update(x, state.clone(), weight)
    assert out.shape == (4, 16)


@pytest.mark.parametrize("device", DEVICES)
def test_state_shift_is_exact(device: str) -> None:
    """Without cache_seqlens the state becomes the last S entries of concat(state, x)."""
    state = torch.arange(2 * 3 * 5, dtype=torch.float32, device=device).view(2, 3, 5)
    x = -torch.arange(2 * 3 * 2, dtype=torch.float32, device=device).view(2, 3, 2) - 1
    expected = torch.cat([state, x], dim=-1)[..., -5:]
    causal_conv1d_update(x, state, torch.randn(3, 4, device=device))
    assert torch.equal(state, expected)
    # More new tokens than state slots: the state is the tail of x.
    x_long = torch.randn(2, 3, 7, device=device)
    causal_conv1d_update(x_long, state, torch.randn(3, 4, device=device))
    assert torch.equal(state, x_long[..., -5:])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize("seqlen", [1, 2, 4])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_circular_cache_seqlens(device: str, width: int, seqlen: int, dtype: torch.dtype) -> None:
    batch, dim, state_len = 5, 24, 6
    x = torch.randn(batch, dim, seqlen, dtype=dtype, device=device)
    state = torch.randn(batch, dim, state_len, dtype=dtype, device=device)
    weight = torch.randn(dim, width, dtype=dtype, device=device)
    bias = torch.randn(dim, dtype=dtype, device=device)
    # Positions before, at and past the wrap point, and far beyond state_len.
    cache_seqlens = torch.tensor([0, 2, 5, 6, 1000], dtype=torch.int32, device=device)
    _run_both(x, state, weight, bias, "silu", cache_seqlens, None)


@pytest.mark.parametrize("device", DEVICES)
def test_circular_write_positions(device: str) -> None:
    state = torch.zeros(1, 1, 4, device=device)
    x = torch.tensor([[[7.0, 8.0]]], device=device)
    causal_conv1d_update(
        x,
        state,
        torch.ones(1, 2, device=device),
        cache_seqlens=torch.tensor([3], dtype=torch.int32, device=device),
    )
    assert state.flatten().tolist() == [8.0, 0.0, 0.0, 7.0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("circular", [False, True], ids=["plain", "circular"])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_conv_state_indices(device: str, circular: bool, dtype: torch.dtype) -> None:
    batch, dim, width, state_len, n_states = 4, 19, 4, 5, 7
    x = torch.randn(batch, dim, 2, dtype=dtype, device=device)
    state = torch.randn(n_states, dim, state_len, dtype=dtype, device=device)
    weight = torch.randn(dim, width, dtype=dtype, device=device)
    bias = torch.randn(dim, dtype=dtype, device=device)
    indices = torch.tensor([5, -1, 0, 3], dtype=torch.int32, device=device)  # -1: padding
    cache_seqlens = (
        torch.tensor([1, 4, 9, 0], dtype=torch.int32, device=device) if circular else None
    )
    _run_both(x, state, weight, bias, "silu", cache_seqlens, indices)
    padded_state = state.clone()
    out = causal_conv1d_update(x, padded_state, weight, bias, "silu", cache_seqlens, indices)
    assert torch.all(out[1] == 0)
    untouched = [1, 2, 4, 6]
    assert torch.equal(padded_state[untouched], state[untouched])
