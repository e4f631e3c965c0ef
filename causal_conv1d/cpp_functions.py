"""Upstream's functional wrappers over the kernels, same names and parameters.

Code written against ``causal_conv1d.cpp_functions`` (e.g. mamba-ssm) keeps
working; the ops behind them already carry fake impls for torch.compile.
"""

from __future__ import annotations

import torch

from causal_conv1d._ops import deterministic_backward, either_layout, in_layout_of, ops

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
    want_final = final_states_out is not None
    out, final_states = ops.fwd(
        either_layout(x),
        weight,
        bias.contiguous() if bias is not None else None,
        seq_idx.contiguous() if seq_idx is not None else None,
        either_layout(initial_states) if initial_states is not None else None,
        want_final,
        silu_activation,
    )
    if final_states_out is not None:
        final_states_out.copy_(final_states)
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
    x = either_layout(x)
    grads = ops.bwd(
        x,
        weight,
        bias.contiguous() if bias is not None else None,
        in_layout_of(dout, x),
        seq_idx.contiguous() if seq_idx is not None else None,
        either_layout(initial_states) if initial_states is not None else None,
        either_layout(dfinal_states) if dfinal_states is not None else None,
        bool(return_dinitial_states),
        silu_activation,
        deterministic_backward(),
    )
    dx_new, dweight, dbias, dinitial_states = grads
    if dx is not None:
        dx.copy_(dx_new)
        dx_new = dx
    return (
        dx_new,
        dweight,
        dbias if bias is not None else None,
        dinitial_states if return_dinitial_states else None,
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
    return ops.update(
        x,
        conv_state,
        weight,
        bias.contiguous() if bias is not None else None,
        silu_activation,
        cache_seqlens,
        conv_state_indices,
    )
