"""The op calls behind every public entry point, with arguments normalised once.

causal_conv1d_interface, cpp_functions and causal_conv1d_cuda differ only in
calling conventions (keywords, activation strings or flags, caller buffers,
argument counts); each one forwards here. This module turns optional
arguments into what the kernels accept: contiguous bias and seq_idx, x and
the states in a layout with a unit-stride axis, dout in x's layout class, and
fills the buffers a caller passed (final_states_out, dx).
"""

from __future__ import annotations

import torch

from causal_conv1d._ops import deterministic_backward, either_layout, in_layout_of, ops

__all__ = ["ActivationError", "bwd", "fwd", "silu_flag", "update"]

Tensor = torch.Tensor


class ActivationError(ValueError, NotImplementedError):
    """An unsupported activation; upstream raised NotImplementedError, so both match."""


def silu_flag(activation: str | None) -> bool:
    """True for silu/swish, False for None; anything else is an error."""
    if activation not in (None, "silu", "swish"):
        raise ActivationError(
            f"causal_conv1d: activation must be None, 'silu' or 'swish', got {activation!r}"
        )
    return activation is not None


def _contiguous(t: Tensor | None) -> Tensor | None:
    return t.contiguous() if t is not None else None


# Layout fixes apply to (B, D, n) tensors only: a wrong rank is left for the
# kernels' checks, which name the argument.
def _layout(t: Tensor) -> Tensor:
    return either_layout(t) if t.dim() == 3 else t


def _opt_layout(t: Tensor | None) -> Tensor | None:
    return _layout(t) if t is not None else None


def _dout_layout(dout: Tensor, x: Tensor) -> Tensor:
    return in_layout_of(dout, x) if dout.dim() == 3 and x.dim() == 3 else dout


def fwd(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    seq_idx: Tensor | None,
    initial_states: Tensor | None,
    return_final_states: bool,
    final_states_out: Tensor | None,
    silu: bool,
) -> tuple[Tensor, Tensor | None]:
    """(out, final_states); final_states is None unless return_final_states.

    A given final_states_out receives the final states in place and is
    returned as final_states (autograd still reaches x and initial_states
    through the copy).
    """
    out, final_states = ops.fwd(
        _layout(x),
        weight,
        _contiguous(bias),
        _contiguous(seq_idx),
        _opt_layout(initial_states),
        bool(return_final_states),
        bool(silu),
    )
    if not return_final_states:
        return out, None
    if final_states_out is not None:
        return out, final_states_out.copy_(final_states)
    return out, final_states


def bwd(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    dout: Tensor,
    seq_idx: Tensor | None,
    initial_states: Tensor | None,
    dfinal_states: Tensor | None,
    return_dinitial_states: bool,
    silu: bool,
    dx: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """(dx, dweight, dbias, dinitial_states), as upstream's backward returns them.

    dbias is None without bias, dinitial_states None unless requested. A given
    dx buffer is filled in place and returned.
    """
    x = _layout(x)
    dx_new, dweight, dbias, dinit = ops.bwd(
        x,
        weight,
        _contiguous(bias),
        _dout_layout(dout, x),
        _contiguous(seq_idx),
        _opt_layout(initial_states),
        _opt_layout(dfinal_states),
        bool(return_dinitial_states),
        bool(silu),
        deterministic_backward(),
    )
    if dx is not None:
        dx_new = dx.copy_(dx_new)
    return (
        dx_new,
        dweight,
        dbias if bias is not None else None,
        dinit if return_dinitial_states else None,
    )


def update(
    x: Tensor,
    conv_state: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    silu: bool,
    cache_seqlens: Tensor | None,
    conv_state_indices: Tensor | None,
) -> Tensor:
    """One decoding step on (batch, dim, seqlen) x; conv_state is updated in place."""
    return ops.update(
        x, conv_state, weight, _contiguous(bias), bool(silu), cache_seqlens, conv_state_indices
    )
