"""causal_conv1d_varlen_states against its per-sequence reference."""

from __future__ import annotations

import pytest
import torch
from cc1d_testing import BF16, DEVICES, F32

from causal_conv1d.causal_conv1d_varlen import (
    causal_conv1d_varlen_states,
    causal_conv1d_varlen_states_ref,
)

pytestmark = pytest.mark.extension


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("state_len", [1, 3, 8])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_matches_reference(device: str, state_len: int, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    # Includes sequences shorter than state_len and an empty one.
    lengths = torch.tensor([5, 1, 0, 12, 2, 7])
    cu_seqlens = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
    cu_seqlens = cu_seqlens.to(torch.int32).to(device)
    x = torch.randn(int(lengths.sum()), 40, dtype=dtype, device=device)
    states = causal_conv1d_varlen_states(x, cu_seqlens, state_len)
    ref = causal_conv1d_varlen_states_ref(x, cu_seqlens, state_len)
    assert states.shape == (6, 40, state_len)
    assert states.stride(1) == 1  # stored (batch, state_len, dim), like upstream
    assert torch.equal(states, ref)
    # Spot check: the last token of sequence 0 is the last state column.
    assert torch.equal(states[0, :, -1], x[4])
    assert torch.all(states[2] == 0)


@pytest.mark.parametrize("device", DEVICES)
def test_no_tokens(device: str) -> None:
    x = torch.randn(0, 4, device=device)
    cu_seqlens = torch.zeros(3, dtype=torch.int32, device=device)
    states = causal_conv1d_varlen_states(x, cu_seqlens, 3)
    assert states.shape == (2, 4, 3) and torch.all(states == 0)
