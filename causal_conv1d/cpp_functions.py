"""Upstream's functional wrappers over the kernels, same names and parameters.

Code written against ``causal_conv1d.cpp_functions`` (e.g. mamba-ssm) keeps
working; the ops behind them already carry fake impls for torch.compile.
"""

from __future__ import annotations

import torch

from causal_conv1d import _adapter

__all__ = [
    "causal_conv1d_bwd_function",
    "causal_conv1d_fwd_function",
    "causal_conv1d_update_function",
]


def causal_conv1d_fwd_function(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    seq_idx: torch.Tensor | None,
    initial_states: torch.Tensor | None,
    final_states_out: torch.Tensor | None,
    silu_activation: bool,
) -> torch.Tensor:
    """Forward; final_states_out, when given, receives the final states in place."""
    out, _ = _adapter.fwd(
        x,
        weight,
        bias,
        seq_idx,
        initial_states,
        final_states_out is not None,
        final_states_out,
        silu_activation,
    )
    return out


def causal_conv1d_bwd_function(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dout: torch.Tensor,
    seq_idx: torch.Tensor | None,
    initial_states: torch.Tensor | None,
    dfinal_states: torch.Tensor | None,
    dx: torch.Tensor | None,
    return_dinitial_states: bool,
    silu_activation: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Backward: (dx, dweight, dbias, dinitial_states); dx is filled in place when given."""
    return _adapter.bwd(
        x,
        weight,
        bias,
        dout,
        seq_idx,
        initial_states,
        dfinal_states,
        return_dinitial_states,
        silu_activation,
        dx=dx,
    )


def causal_conv1d_update_function(
    x: torch.Tensor,
    conv_state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    silu_activation: bool,
    cache_seqlens: torch.Tensor | None,
    conv_state_indices: torch.Tensor | None,
) -> torch.Tensor:
    """Decoding step on (batch, dim, seqlen) x; conv_state is updated in place."""
    return _adapter.update(
        x, conv_state, weight, bias, silu_activation, cache_seqlens, conv_state_indices
    )
