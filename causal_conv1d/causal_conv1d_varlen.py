"""Final conv states of packed variable-length sequences (upstream-compatible API)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["causal_conv1d_varlen_states", "causal_conv1d_varlen_states_ref"]


def causal_conv1d_varlen_states(x: Tensor, cu_seqlens: Tensor, state_len: int) -> Tensor:
    """The last state_len tokens of every packed sequence, as conv states.

    x: (total_tokens, dim), sequences packed back to back
    cu_seqlens: (batch + 1,) sorted cumulative lengths starting at 0
    state_len: tokens per state; positions before a sequence's start are 0

    Returns states (batch, dim, state_len), stored as (batch, state_len, dim)
    like upstream's. Forward only. One gather, no per-sequence loop.
    """
    total, dim = x.shape
    batch = cu_seqlens.shape[0] - 1
    ends = cu_seqlens[1:].long()
    starts = cu_seqlens[:-1].long()
    offsets = torch.arange(state_len, device=x.device) - state_len
    pos = ends.unsqueeze(1) + offsets  # (batch, state_len) token index in x
    valid = pos >= starts.unsqueeze(1)
    if total == 0:
        return x.new_zeros((batch, state_len, dim)).transpose(1, 2)
    gathered = x[pos.clamp(0, total - 1)]  # (batch, state_len, dim)
    states = torch.where(valid.unsqueeze(-1), gathered, gathered.new_zeros(()))
    return states.transpose(1, 2)


def causal_conv1d_varlen_states_ref(x: Tensor, cu_seqlens: Tensor, state_len: int) -> Tensor:
    """Per-sequence loop version of causal_conv1d_varlen_states, for testing."""
    _, dim = x.shape
    batch = cu_seqlens.shape[0] - 1
    states = x.new_zeros((batch, state_len, dim)).transpose(1, 2)
    bounds = cu_seqlens.tolist()
    for i in range(batch):
        end = int(bounds[i + 1])
        start = max(int(bounds[i]), end - state_len)
        if end > start:
            states[i, :, state_len - (end - start) :] = x[start:end].T
    return states
