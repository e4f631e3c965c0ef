"""The public functions: causal depthwise conv1d and its decoding step.

Signatures match upstream causal-conv1d 1.7.0. The work is done by the
``causal_conv1d`` ops (CPU and CUDA kernels); autograd and torch.compile
support live on the ops themselves (see _ops.py), and argument normalisation
in _adapter.py, shared with cpp_functions and causal_conv1d_cuda.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from causal_conv1d import _adapter
from causal_conv1d._adapter import ActivationError, silu_flag

__all__ = [
    "ActivationError",
    "causal_conv1d_fn",
    "causal_conv1d_ref",
    "causal_conv1d_update",
    "causal_conv1d_update_ref",
]


def causal_conv1d_fn(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    seq_idx: torch.Tensor | None = None,
    initial_states: torch.Tensor | None = None,
    return_final_states: bool = False,
    final_states_out: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Causal depthwise conv1d.

    x: (batch, dim, seqlen), channel-first or channel-last memory
    weight: (dim, width), width in 2..4
    bias: (dim,)
    seq_idx: (batch, seqlen) int32; tokens only see earlier tokens of the same id
    initial_states: (batch, dim, width - 1)
    return_final_states: also return the last width - 1 inputs, (batch, dim, width - 1)
    final_states_out: (batch, dim, width - 1), written in place when given
    activation: None, "silu" or "swish"

    Returns out (batch, dim, seqlen), or (out, final_states) with return_final_states.
    """
    silu = silu_flag(activation)
    if seq_idx is not None and return_final_states:
        raise ValueError("causal_conv1d: seq_idx cannot be combined with return_final_states")
    out, final_states = _adapter.fwd(
        x,
        weight,
        bias,
        seq_idx,
        initial_states,
        return_final_states,
        final_states_out,
        silu,
    )
    return out if final_states is None else (out, final_states)


def causal_conv1d_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    initial_states: torch.Tensor | None = None,
    return_final_states: bool = False,
    final_states_out: torch.Tensor | None = None,
    activation: str | None = None,
    seq_idx: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Pure-PyTorch reference of causal_conv1d_fn (differentiable).

    Computes in float32 (float64 if any input is float64) and returns x's dtype.
    Note the argument order, which follows upstream's reference.
    """
    silu = silu_flag(activation)
    dtype_in = x.dtype
    work = torch.float64 if torch.float64 in (x.dtype, weight.dtype) else torch.float32
    batch, dim = x.shape[0], x.shape[1]
    width = weight.shape[1]
    w = weight.to(work)
    b = bias.to(work) if bias is not None else None
    if initial_states is None:
        xs = F.pad(x.to(work), (width - 1, 0))
    else:
        xs = torch.cat([initial_states.to(work), x.to(work)], dim=-1)
    if seq_idx is None:
        out = F.conv1d(xs, w.unsqueeze(1), b, groups=dim)
    else:
        if return_final_states:
            raise ValueError("causal_conv1d: seq_idx cannot be combined with return_final_states")
        # State tokens belong to the row's first sequence.
        state_ids = seq_idx[:, :1].expand(batch, width - 1)
        ids = torch.cat([state_ids, seq_idx], dim=-1)
        windows = xs.unfold(-1, width, 1)  # (batch, dim, seqlen, width)
        same = ids.unfold(-1, width, 1) == seq_idx.unsqueeze(-1)  # (batch, seqlen, width)
        out = (windows * same.unsqueeze(1).to(work) * w.view(1, dim, 1, width)).sum(-1)
        if b is not None:
            out = out + b.view(1, dim, 1)
    if silu:
        out = F.silu(out)
    if seq_idx is not None:
        out = out.masked_fill((seq_idx < 0).unsqueeze(1), 0.0)
    out = out.to(dtype_in)
    if not return_final_states:
        return out
    # The last width - 1 entries of concat(state, x); zero-padded when short.
    final_states = F.pad(xs, (max(width - 1 - xs.shape[-1], 0), 0))[..., -(width - 1) :]
    final_states = final_states.to(dtype_in)
    if final_states_out is not None:
        final_states_out.copy_(final_states)
        return out, final_states_out
    return out, final_states


def causal_conv1d_update(
    x: torch.Tensor,
    conv_state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
    cache_seqlens: torch.Tensor | None = None,
    conv_state_indices: torch.Tensor | None = None,
) -> torch.Tensor:
    """One decoding step; conv_state is updated in place.

    x: (batch, dim) or (batch, dim, seqlen)
    conv_state: (batch, dim, state_len), state_len >= width - 1; with
        conv_state_indices, (num_states, dim, state_len) indexed per row
    weight: (dim, width); bias: (dim,)
    cache_seqlens: (batch,) int32; conv_state is then a circular buffer and the
        new tokens are written at cache_seqlens % state_len
    conv_state_indices: (batch,) int32 rows of conv_state; negative = padding
        (zero output, state untouched)

    Returns out with x's shape.
    """
    silu = silu_flag(activation)
    squeeze = x.dim() == 2
    if squeeze:
        x = x.unsqueeze(-1)
    out = _adapter.update(x, conv_state, weight, bias, silu, cache_seqlens, conv_state_indices)
    return out.squeeze(-1) if squeeze else out


def causal_conv1d_update_ref(
    x: torch.Tensor,
    conv_state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
    cache_seqlens: torch.Tensor | None = None,
    conv_state_indices: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pure-PyTorch reference of causal_conv1d_update; updates conv_state in place.

    State entries are copied exactly (no dtype round trip). With tokens that
    wrap around a circular state, later tokens win.
    """
    silu = silu_flag(activation)
    dtype_in = x.dtype
    squeeze = x.dim() == 2
    if squeeze:
        x = x.unsqueeze(-1)
    batch, dim, seqlen = x.shape
    width = weight.shape[1]
    state_len = conv_state.shape[-1]
    work = torch.float64 if torch.float64 in (x.dtype, weight.dtype) else torch.float32
    if conv_state_indices is None:
        rows = torch.arange(batch, device=x.device)
        valid = torch.ones(batch, dtype=torch.bool, device=x.device)
    else:
        valid = conv_state_indices >= 0
        rows = conv_state_indices.long().clamp(min=0)
    state = conv_state[rows]  # (batch, dim, state_len) copy
    arange_w = torch.arange(width - 1, device=x.device)
    if cache_seqlens is None:
        window_idx = (state_len - (width - 1) + arange_w).expand(batch, -1)
    else:
        start = cache_seqlens.long().unsqueeze(1) - (width - 1)
        window_idx = torch.remainder(start + arange_w, state_len)
    window = state.gather(2, window_idx.unsqueeze(1).expand(batch, dim, width - 1))
    xs = torch.cat([window, x], dim=-1).to(work)
    b = bias.to(work) if bias is not None else None
    out = F.conv1d(xs, weight.to(work).unsqueeze(1), b, groups=dim)
    if silu:
        out = F.silu(out)
    out = out.masked_fill(~valid.view(batch, 1, 1), 0.0).to(dtype_in)
    if cache_seqlens is None:
        new_state = torch.cat([state, x], dim=-1)[..., -state_len:]
    else:
        new_state = state.clone()
        for j in range(seqlen):  # in order, so later tokens overwrite earlier ones
            pos = torch.remainder(cache_seqlens.long() + j, state_len)
            new_state.scatter_(2, pos.view(batch, 1, 1).expand(batch, dim, 1), x[..., j : j + 1])
    keep = valid.nonzero().squeeze(1)
    conv_state.index_copy_(0, rows[keep], new_state[keep].to(conv_state.dtype))
    return out.squeeze(-1) if squeeze else out
