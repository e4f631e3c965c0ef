"""Upstream's low-level ``causal_conv1d_cuda`` module, over our ops.

mamba-ssm and other callers import this module directly. The 1.7.0 forms
write into caller-provided buffers and return None:

    causal_conv1d_fwd(x, weight, bias, seq_idx, initial_states, out,
                      final_states_out, silu_activation)
    causal_conv1d_bwd(x, weight, bias, dout, seq_idx, initial_states,
                      dfinal_states, dx, dweight, dbias, dinitial_states,
                      silu_activation)
    causal_conv1d_update(x, conv_state, weight, bias, out, silu_activation,
                         cache_seqlens, conv_state_indices)

As upstream's kernels do, bwd *adds* into dweight and dbias (callers pass
zero-filled float32 buffers) and overwrites dx and dinitial_states.

Callers written for earlier releases pass fewer arguments and use the return
value; those forms are recognised by their argument count:

    fwd(x, weight, bias, silu)                                       -> out
    fwd(x, weight, bias, seq_idx, silu)                              -> out
    fwd(x, weight, bias, seq_idx, initial_states, final_states_out, silu) -> out
    bwd(x, weight, bias, dout, dx, silu)                              -> (dx, dweight, dbias)
    bwd(x, weight, bias, dout, seq_idx, dx, silu)                     -> (dx, dweight, dbias)
    bwd(x, weight, bias, dout, seq_idx, initial_states, dfinal_states, dx,
        return_dinitial_states, silu)              -> (dx, dweight, dbias, dinitial_states)
    update(x, conv_state, weight, bias, silu[, cache_seqlens[, conv_state_indices]]) -> out
"""

from __future__ import annotations

from typing import Any

import torch

from causal_conv1d import _adapter

__all__ = ["causal_conv1d_bwd", "causal_conv1d_fwd", "causal_conv1d_update"]

Tensor = torch.Tensor


def _fwd(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    seq_idx: Tensor | None,
    initial_states: Tensor | None,
    final_states_out: Tensor | None,
    silu: bool,
) -> Tensor:
    want_final = final_states_out is not None
    out, _ = _adapter.fwd(
        x, weight, bias, seq_idx, initial_states, want_final, final_states_out, silu
    )
    return out


def causal_conv1d_fwd(*args: Any) -> Tensor | None:
    """Forward; see the module docstring for the accepted argument lists."""
    if len(args) == 8:
        x, weight, bias, seq_idx, initial_states, out, final_states_out, silu = args
        out.copy_(_fwd(x, weight, bias, seq_idx, initial_states, final_states_out, silu))
        return None
    if len(args) == 7:
        x, weight, bias, seq_idx, initial_states, final_states_out, silu = args
        return _fwd(x, weight, bias, seq_idx, initial_states, final_states_out, silu)
    if len(args) == 5:
        x, weight, bias, seq_idx, silu = args
        return _fwd(x, weight, bias, seq_idx, None, None, silu)
    if len(args) == 4:
        x, weight, bias, silu = args
        return _fwd(x, weight, bias, None, None, None, silu)
    raise TypeError(f"causal_conv1d_fwd() takes 8 arguments (or 4, 5, 7), got {len(args)}")


def causal_conv1d_bwd(*args: Any) -> tuple[Tensor | None, ...] | None:
    """Backward; see the module docstring for the accepted argument lists."""
    if len(args) == 12:
        (
            x,
            weight,
            bias,
            dout,
            seq_idx,
            initial_states,
            dfinal_states,
            dx,
            dweight,
            dbias,
            dinitial_states,
            silu,
        ) = args
        want_dinit = dinitial_states is not None
        _, gweight, gbias, gdinit = _adapter.bwd(
            x, weight, bias, dout, seq_idx, initial_states, dfinal_states, want_dinit, silu, dx=dx
        )
        dweight.add_(gweight.to(dweight.dtype))
        if dbias is not None and gbias is not None:
            dbias.add_(gbias.to(dbias.dtype))
        if dinitial_states is not None:
            dinitial_states.copy_(gdinit)
        return None
    if len(args) == 10:
        (x, weight, bias, dout, seq_idx, initial_states, dfinal_states, dx, want_dinit, silu) = args
        return _adapter.bwd(
            x, weight, bias, dout, seq_idx, initial_states, dfinal_states, want_dinit, silu, dx=dx
        )
    if len(args) in (6, 7):
        if len(args) == 7:
            x, weight, bias, dout, seq_idx, dx, silu = args
        else:
            x, weight, bias, dout, dx, silu = args
            seq_idx = None
        return _adapter.bwd(x, weight, bias, dout, seq_idx, None, None, False, silu, dx=dx)[:3]
    raise TypeError(f"causal_conv1d_bwd() takes 12 arguments (or 6, 7, 10), got {len(args)}")


def causal_conv1d_update(*args: Any) -> Tensor | None:
    """Decoding step; see the module docstring for the accepted argument lists."""
    if len(args) == 8:
        x, conv_state, weight, bias, out, silu, cache_seqlens, conv_state_indices = args
        out.copy_(
            _adapter.update(x, conv_state, weight, bias, silu, cache_seqlens, conv_state_indices)
        )
        return None
    if 5 <= len(args) <= 7:
        x, conv_state, weight, bias, silu = args[:5]
        cache_seqlens = args[5] if len(args) > 5 else None
        conv_state_indices = args[6] if len(args) > 6 else None
        return _adapter.update(x, conv_state, weight, bias, silu, cache_seqlens, conv_state_indices)
    raise TypeError(f"causal_conv1d_update() takes 8 arguments (or 5-7), got {len(args)}")
