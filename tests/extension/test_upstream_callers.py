"""Code written for upstream causal-conv1d 1.7.0 runs unchanged (issue 14).

Each test calls the public API the way a real caller does: in-place ops on
outputs, backward through them, outputs kept across steps, caller-owned
buffers, a conv_state updated in place and reused, mixed dtypes, and the
strided layouts that come out of projections. Results and gradients are
checked against causal_conv1d_ref / causal_conv1d_update_ref run in float64
on the same values.

Where a test reproduces a specific caller, its docstring names the source:
mamba_ssm 2.3.2.post1 and 2.2.2 (state-spaces/mamba) and transformers 5.24.0
(huggingface/transformers), as published on PyPI.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from cc1d_testing import BF16, DEVICES, DTYPE_PAIRS, F16, F32, TOLERANCES

import causal_conv1d_cuda
from causal_conv1d import causal_conv1d_fn, causal_conv1d_update, cpp_functions
from causal_conv1d.causal_conv1d_interface import causal_conv1d_ref, causal_conv1d_update_ref
from causal_conv1d.causal_conv1d_varlen import causal_conv1d_varlen_states

pytestmark = pytest.mark.extension

F64 = torch.float64
Tensor = torch.Tensor


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _pair_id(pair: tuple[torch.dtype, torch.dtype]) -> str:
    return f"{pair[0]}-{pair[1]}".replace("torch.", "")


def _coarsest(*dtypes: torch.dtype) -> torch.dtype:
    """The least precise dtype, whose tolerance bounds a computation mixing them."""
    return min(dtypes, key=[BF16, F16, F32, F64].index)


def _check(got: Tensor, want: Tensor, dtype: torch.dtype, what: str, reduced: bool = False) -> None:
    """Compare in float64 with `dtype`'s tolerance; sums over batch x seqlen scale atol."""
    rtol, atol = TOLERANCES[dtype]
    if reduced:
        atol *= max(1.0, want.abs().max().item())
    torch.testing.assert_close(
        got.double(), want.double(), rtol=rtol, atol=atol, msg=lambda m: f"{what}: {m}"
    )


def _leaves(*ts: Tensor) -> list[Tensor]:
    """Fresh leaves requiring grad, keeping each tensor's strides."""
    return [t.detach().clone().requires_grad_() for t in ts]


def _leaves64(*ts: Tensor) -> list[Tensor]:
    return [t.detach().double().requires_grad_() for t in ts]


def _check_grads(
    ours: Sequence[Tensor],
    ref: Sequence[Tensor],
    names: Sequence[str],
    dtype: torch.dtype,
    reduced: Sequence[str] = ("weight", "bias"),
) -> None:
    for name, a, b in zip(names, ours, ref, strict=True):
        assert a.grad is not None and b.grad is not None, name
        _check(a.grad, b.grad, dtype, f"grad of {name}", reduced=name in reduced)


def _channel_last(batch: int, dim: int, n: int, dtype: torch.dtype, device: str) -> Tensor:
    """(batch, dim, n) stored as (batch, n, dim): how Mamba-2 hands x to the conv."""
    return torch.randn(batch, n, dim, dtype=dtype, device=device).transpose(1, 2)


# ---------------------------------------------------------------- in-place on outputs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids=_pair_id)
@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize("seqlen", [2, 3, 64])
def test_issue_snippet_in_place_add_then_backward(
    device: str, dtypes: tuple[torch.dtype, torch.dtype], width: int, seqlen: int
) -> None:
    """The report's code: `out += sigmoid(final_states).sum(...)` on channel-last x."""
    xtype, wtype = dtypes
    batch, dim = 2, 24
    x = _channel_last(batch, dim, seqlen, xtype, device)
    weight = torch.randn(dim, width, dtype=wtype, device=device)
    bias = torch.randn(dim, dtype=wtype, device=device)
    init = _channel_last(batch, dim, width - 1, xtype, device)
    grad = torch.randn(batch, dim, seqlen, dtype=xtype, device=device)

    def run(fn: Callable[..., Any], leaves: list[Tensor]) -> Tensor:
        x, weight, bias, init = leaves
        out, final_states = fn(
            x, weight, bias, initial_states=init, return_final_states=True, activation="silu"
        )
        out += F.sigmoid(final_states).sum(dim=-1, keepdim=True)
        out.backward(grad.to(out.dtype))
        return out

    ours, ref = _leaves(x, weight, bias, init), _leaves64(x, weight, bias, init)
    out = run(causal_conv1d_fn, ours)
    want = run(causal_conv1d_ref, ref)
    tol = _coarsest(xtype, wtype)
    assert out.dtype == xtype
    _check(out, want, tol, "out")
    _check_grads(ours, ref, ["x", "weight", "bias", "initial_states"], tol)


IN_PLACE_OPS: dict[str, Callable[[Tensor], object]] = {
    "mul_": lambda t: t.mul_(1.5),
    "setitem": lambda t: t.__setitem__((Ellipsis, slice(0, 1)), 0.25),
    "silu_inplace": lambda t: F.silu(t, inplace=True),
    "through_view": lambda t: t.transpose(1, 2).add_(0.5),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("dtypes", [(F32, F32), (BF16, F32)], ids=_pair_id)
@pytest.mark.parametrize("target", ["out", "final_states", "out_without_states"])
@pytest.mark.parametrize("op", list(IN_PLACE_OPS))
def test_in_place_on_any_output_then_backward(
    device: str,
    channel_last: bool,
    dtypes: tuple[torch.dtype, torch.dtype],
    target: str,
    op: str,
) -> None:
    xtype, wtype = dtypes
    batch, dim, seqlen, width = 2, 16, 9, 4
    if channel_last:
        x = _channel_last(batch, dim, seqlen, xtype, device)
        init = _channel_last(batch, dim, width - 1, xtype, device)
    else:
        x = torch.randn(batch, dim, seqlen, dtype=xtype, device=device)
        init = torch.randn(batch, dim, width - 1, dtype=xtype, device=device)
    weight = torch.randn(dim, width, dtype=wtype, device=device)
    bias = torch.randn(dim, dtype=wtype, device=device)
    g_out = torch.randn(batch, dim, seqlen, dtype=xtype, device=device)
    g_final = torch.randn(batch, dim, width - 1, dtype=xtype, device=device)
    with_states = target != "out_without_states"

    def run(fn: Callable[..., Any], leaves: list[Tensor]) -> list[Tensor]:
        x, weight, bias, init = leaves
        if not with_states:
            out = fn(x, weight, bias, activation="silu")
            IN_PLACE_OPS[op](out)
            out.backward(g_out.to(out.dtype))
            return [out]
        out, final = fn(
            x, weight, bias, initial_states=init, return_final_states=True, activation="silu"
        )
        IN_PLACE_OPS[op](final if target == "final_states" else out)
        torch.autograd.backward([out, final], [g_out.to(out.dtype), g_final.to(final.dtype)])
        return [out, final]

    ours, ref = _leaves(x, weight, bias, init), _leaves64(x, weight, bias, init)
    got, want = run(causal_conv1d_fn, ours), run(causal_conv1d_ref, ref)
    tol = _coarsest(xtype, wtype)
    for name, a, b in zip(["out", "final_states"], got, want, strict=False):
        _check(a, b, tol, name)
    names = ["x", "weight", "bias", "initial_states"]
    if with_states:
        _check_grads(ours, ref, names, tol)
    else:
        _check_grads(ours[:3], ref[:3], names[:3], tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtypes", [(F32, F32), (BF16, BF16), (F16, F32)], ids=_pair_id)
def test_chunks_keep_their_outputs_and_chain_states(
    device: str, dtypes: tuple[torch.dtype, torch.dtype]
) -> None:
    """Streaming a sequence in chunks: each chunk's final_states is the next's
    initial_states, outputs are kept (and later modified) while more chunks
    run, and one backward goes through all of them."""
    xtype, wtype = dtypes
    batch, dim, width, bounds = 2, 16, 4, [0, 5, 6, 19]
    x = _channel_last(batch, dim, bounds[-1], xtype, device)
    weight = torch.randn(dim, width, dtype=wtype, device=device)
    bias = torch.randn(dim, dtype=wtype, device=device)
    grad = torch.randn(batch, dim, bounds[-1], dtype=xtype, device=device)

    def run(fn: Callable[..., Any], leaves: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        x, weight, bias = leaves
        outs: list[Tensor] = []
        snapshots: list[Tensor] = []
        states = None
        for lo, hi in itertools.pairwise(bounds):
            out, states = fn(
                x[..., lo:hi],
                weight,
                bias,
                initial_states=states,
                return_final_states=True,
                activation="silu",
            )
            outs.append(out)
            snapshots.append(out.detach().clone())
        for out, snap in zip(outs, snapshots, strict=True):
            assert torch.equal(out, snap)  # later calls never write into earlier outputs
        full = torch.cat(outs, dim=-1)
        outs[0].mul_(2)  # a kept output modified after the fact
        torch.autograd.backward(
            [full, outs[0]], [grad.to(full.dtype), grad[..., :5].to(full.dtype)]
        )
        return full, outs

    ours, ref = _leaves(x, weight, bias), _leaves64(x, weight, bias)
    full, outs = run(causal_conv1d_fn, ours)
    want_full, want_outs = run(causal_conv1d_ref, ref)
    tol = _coarsest(xtype, wtype)
    _check(full, want_full, tol, "concatenated chunks")
    _check(outs[0], want_outs[0], tol, "first chunk after mul_")
    # Chunking is invisible: the same as one call over the whole sequence.
    _check(
        full,
        causal_conv1d_ref(*(t.detach().double() for t in ref), activation="silu"),
        tol,
        "whole",
    )
    _check_grads(ours, ref, ["x", "weight", "bias"], tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("buffer_layout", ["cl", "cf"])
@pytest.mark.parametrize("dtypes", [(F32, F32), (BF16, F32)], ids=_pair_id)
def test_final_states_out_given_by_caller(
    device: str, buffer_layout: str, dtypes: tuple[torch.dtype, torch.dtype]
) -> None:
    """final_states_out is filled, returned as is, may be modified in place,
    and gradients still reach x and initial_states through it. The channel-last
    buffer is built as upstream's CausalConv1dFn.forward allocates its own."""
    xtype, wtype = dtypes
    batch, dim, seqlen, width = 2, 16, 11, 3
    x = _channel_last(batch, dim, seqlen, xtype, device)
    init = _channel_last(batch, dim, width - 1, xtype, device)
    weight = torch.randn(dim, width, dtype=wtype, device=device)
    bias = torch.randn(dim, dtype=wtype, device=device)
    g_out = torch.randn(batch, dim, seqlen, dtype=xtype, device=device)
    g_final = torch.randn(batch, dim, width - 1, dtype=xtype, device=device)

    def buffer(dtype: torch.dtype) -> Tensor:
        if buffer_layout == "cl":
            return torch.empty(batch, width - 1, dim, dtype=dtype, device=device).transpose(1, 2)
        return torch.empty(batch, dim, width - 1, dtype=dtype, device=device)

    def run(fn: Callable[..., Any], leaves: list[Tensor], buf: Tensor) -> list[Tensor]:
        x, weight, bias, init = leaves
        out, final = fn(
            x,
            weight,
            bias,
            initial_states=init,
            return_final_states=True,
            final_states_out=buf,
            activation="silu",
        )
        assert final is buf
        final.mul_(0.5)
        out.add_(final.sum(dim=-1, keepdim=True))
        torch.autograd.backward([out, final], [g_out.to(out.dtype), g_final.to(final.dtype)])
        return [out, final]

    ours, ref = _leaves(x, weight, bias, init), _leaves64(x, weight, bias, init)
    got = run(causal_conv1d_fn, ours, buffer(xtype))
    want = run(causal_conv1d_ref, ref, buffer(F64))
    tol = _coarsest(xtype, wtype)
    _check(got[0], want[0], tol, "out")
    _check(got[1], want[1], tol, "final_states_out")
    _check_grads(ours, ref, ["x", "weight", "bias", "initial_states"], tol)


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids=_pair_id)
@pytest.mark.parametrize("state_layout", ["cf", "cl"])
@pytest.mark.parametrize("state_extra", [0, 1], ids=["S=W-1", "S=W"])
def test_decode_loop_reuses_conv_state(
    device: str, dtypes: tuple[torch.dtype, torch.dtype], state_layout: str, state_extra: int
) -> None:
    """A decoding loop: one conv_state updated in place at every step and
    reused; each step's output is kept and then modified by the caller, which
    must touch neither the state nor other outputs. The weight is a parameter
    (requires grad), as in a model left in train mode, and outputs are plain
    tensors like upstream's."""
    xtype, wtype = dtypes
    batch, dim, width, steps = 3, 24, 4, 6
    state_len = width - 1 + state_extra
    if state_layout == "cl":
        state = torch.randn(batch, state_len, dim, dtype=xtype, device=device).transpose(1, 2)
    else:
        state = torch.randn(batch, dim, state_len, dtype=xtype, device=device)
    ref_state = state.double()
    weight = torch.randn(dim, width, dtype=wtype, device=device, requires_grad=True)
    bias = torch.randn(dim, dtype=wtype, device=device, requires_grad=True)
    outs: list[Tensor] = []
    snapshots: list[Tensor] = []
    for _ in range(steps):
        x = torch.randn(batch, dim, dtype=xtype, device=device)
        version = state._version
        out = causal_conv1d_update(x, state, weight, bias, "silu")
        want = causal_conv1d_update_ref(
            x.double(), ref_state, weight.detach().double(), bias.detach().double(), "silu"
        )
        assert state._version > version  # autograd sees the in-place write
        assert not out.requires_grad and out.grad_fn is None
        assert out.shape == x.shape and out.dtype == xtype
        _check(out, want, _coarsest(xtype, wtype), "step output")
        assert torch.equal(state.double(), ref_state)  # the state holds exact copies
        outs.append(out)
        snapshots.append(out.clone())
        out.mul_(-1)
        assert torch.equal(state.double(), ref_state)
    for out, snap in zip(outs, snapshots, strict=True):
        assert torch.equal(out, -snap)


@pytest.mark.parametrize("device", DEVICES)
def test_overwritten_conv_state_is_caught_by_autograd(device: str) -> None:
    """A state saved for backward and then updated in place must not give
    silently wrong gradients: the version bump makes backward refuse."""
    state = torch.randn(2, 8, 3, device=device)
    scale = torch.randn(2, 8, 3, device=device, requires_grad=True)
    loss = (scale * state).sum()  # saves state for backward
    causal_conv1d_update(torch.randn(2, 8, device=device), state, torch.randn(8, 4, device=device))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@pytest.mark.parametrize("device", DEVICES)
def test_inference_mode_and_no_grad(device: str) -> None:
    """Generation loops run under no_grad or inference_mode; outputs stay writable."""
    weight, bias = torch.randn(16, 4, device=device), torch.randn(16, device=device)
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            x = _channel_last(2, 16, 7, F32, device)
            state = torch.zeros(2, 16, 3, device=device)
            out, final = causal_conv1d_fn(
                x, weight, bias, return_final_states=True, activation="silu"
            )
            out += 1
            final.mul_(2)
            step = causal_conv1d_update(x[..., -1], state, weight, bias, "silu")
            step.add_(1)
            want = causal_conv1d_ref(x.double(), weight.double(), bias.double(), activation="silu")
            _check(out, want + 1, F32, f"{context.__name__} out")
            _check(final, 2 * x[..., -3:], F32, f"{context.__name__} final_states")


# ---------------------------------------------------------------- mamba_ssm


def _mamba_xz(batch: int, dim: int, seqlen: int, dtype: torch.dtype, device: str) -> Tensor:
    """in_proj's output as Mamba.forward builds it: `W @ h` of shape
    (2 * dim, batch * seqlen) viewed as (batch, 2 * dim, seqlen); strides (L, B*L, 1)."""
    flat = torch.randn(2 * dim, batch * seqlen, dtype=dtype, device=device)
    return flat.view(2 * dim, batch, seqlen).permute(1, 0, 2)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtypes", [(F32, F32), (BF16, BF16), (BF16, F32)], ids=_pair_id)
@pytest.mark.parametrize("prefill", [2, 9])
def test_mamba_prefill_then_step(
    device: str, dtypes: tuple[torch.dtype, torch.dtype], prefill: int
) -> None:
    """mamba_ssm 2.3.2.post1, mamba_ssm/modules/mamba_simple.py, Mamba.forward
    (inference path) and Mamba.step: x is one half of `xz.chunk(2, dim=1)`,
    conv_state (B, D, d_conv) is filled by `copy_(F.pad(x, (d_conv - L, 0)))`,
    then each decoding step passes a (B, D) half of `xz.chunk(2, dim=-1)` to
    causal_conv1d_update positionally."""
    xtype, wtype = dtypes
    batch, dim, d_conv, decode = 2, 16, 4, 4
    weight3 = torch.randn(dim, 1, d_conv, dtype=wtype, device=device)  # nn.Conv1d's weight
    bias = torch.randn(dim, dtype=wtype, device=device)
    weight = weight3.view(dim, d_conv)  # rearrange(weight, "d 1 w -> d w")
    xz = _mamba_xz(batch, dim, prefill, xtype, device)
    x, _ = xz.chunk(2, dim=1)
    conv_state = torch.zeros(batch, dim, d_conv, dtype=xtype, device=device)
    conv_state.copy_(F.pad(x, (d_conv - x.shape[-1], 0)))
    outs = [causal_conv1d_fn(x=x, weight=weight, bias=bias, activation="silu")]
    tokens = [x]
    for _ in range(decode):
        xz_t = torch.randn(batch, 2 * dim, dtype=xtype, device=device)
        x_t, _ = xz_t.chunk(2, dim=-1)
        outs.append(causal_conv1d_update(x_t, conv_state, weight, bias, "silu").unsqueeze(-1))
        tokens.append(x_t.unsqueeze(-1))
    whole = torch.cat(tokens, dim=-1)
    want = causal_conv1d_ref(whole.double(), weight.double(), bias.double(), activation="silu")
    _check(torch.cat(outs, dim=-1), want, _coarsest(xtype, wtype), "prefill + steps")
    assert torch.equal(conv_state, whole[..., -d_conv:])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtypes", [(F32, F32), (BF16, BF16)], ids=_pair_id)
def test_mamba2_prefill_then_step(device: str, dtypes: tuple[torch.dtype, torch.dtype]) -> None:
    """mamba_ssm 2.3.2.post1, mamba_ssm/modules/mamba2.py, Mamba2.forward
    (non-fused path), Mamba2.step and Mamba2.allocate_inference_cache: xBC is a
    column slice of zxbcdt (B, L, d_in_proj) handed over as
    `xBC.transpose(1, 2)` with keyword bias/activation/seq_idx, the result is
    transposed back and split; conv_state is channel-last,
    `zeros(B, d_conv, D).transpose(1, 2)`, and decoding passes a (B, D) slice
    of the projection."""
    xtype, wtype = dtypes
    batch, seqlen, d_conv, z_dim, conv_dim, nheads = 2, 7, 4, 16, 32, 4
    d_in_proj = z_dim + conv_dim + nheads
    weight = torch.randn(conv_dim, 1, d_conv, dtype=wtype, device=device).squeeze(1)
    bias = torch.randn(conv_dim, dtype=wtype, device=device)
    zxbcdt = torch.randn(batch, seqlen, d_in_proj, dtype=xtype, device=device)
    _, xBC, _ = torch.split(zxbcdt, [z_dim, conv_dim, nheads], dim=-1)
    conv_state = torch.zeros(batch, d_conv, conv_dim, dtype=xtype, device=device).transpose(1, 2)
    xBC_t = xBC.transpose(1, 2)
    conv_state.copy_(F.pad(xBC_t, (d_conv - xBC_t.shape[-1], 0)))
    y = causal_conv1d_fn(
        xBC.transpose(1, 2), weight, bias=bias, activation="silu", seq_idx=None
    ).transpose(1, 2)
    x_part, b_part, c_part = torch.split(y, [16, 8, 8], dim=-1)
    outs = [torch.cat([x_part, b_part, c_part], dim=-1).transpose(1, 2)]
    tokens = [xBC_t]
    for _ in range(3):
        zxbcdt_t = torch.randn(batch, d_in_proj, dtype=xtype, device=device)
        _, xBC_step, _ = torch.split(zxbcdt_t, [z_dim, conv_dim, nheads], dim=-1)
        outs.append(causal_conv1d_update(xBC_step, conv_state, weight, bias, "silu").unsqueeze(-1))
        tokens.append(xBC_step.unsqueeze(-1))
    whole = torch.cat(tokens, dim=-1)
    want = causal_conv1d_ref(whole.double(), weight.double(), bias.double(), activation="silu")
    _check(torch.cat(outs, dim=-1), want, _coarsest(xtype, wtype), "prefill + steps")
    assert torch.equal(conv_state, whole[..., -d_conv:])


@pytest.mark.parametrize("device", DEVICES)
def test_mamba2_varlen_prefill_then_step(device: str) -> None:
    """mamba_ssm 2.3.2.post1, mamba_ssm/modules/mamba2.py, Mamba2.forward with
    cu_seqlens: packed sequences in one row, the conv separated by seq_idx,
    `conv_state.copy_(causal_conv1d_varlen_states(xBC.squeeze(0), cu_seqlens,
    state_len=conv_state.shape[-1]))` into the channel-last cache, then a
    decoding step per sequence."""
    dim, d_conv = 16, 4
    lengths = [5, 2, 9]
    cu_seqlens = torch.tensor([0, 5, 7, 16], dtype=torch.int32, device=device)
    seq_idx = torch.repeat_interleave(
        torch.arange(len(lengths), dtype=torch.int32, device=device),
        torch.tensor(lengths, device=device),
    ).unsqueeze(0)
    weight = torch.randn(dim, d_conv, device=device)
    bias = torch.randn(dim, device=device)
    xBC = torch.randn(1, sum(lengths), dim, device=device)
    conv_state = torch.zeros(len(lengths), d_conv, dim, device=device).transpose(1, 2)
    conv_state.copy_(causal_conv1d_varlen_states(xBC.squeeze(0), cu_seqlens, d_conv))
    packed = causal_conv1d_fn(
        xBC.transpose(1, 2), weight, bias=bias, activation="silu", seq_idx=seq_idx
    )
    step_x = torch.randn(len(lengths), dim, device=device)
    step = causal_conv1d_update(step_x, conv_state, weight, bias, "silu")
    for i, (lo, hi) in enumerate(itertools.pairwise(cu_seqlens.tolist())):
        seq = torch.cat([xBC[0, lo:hi].T, step_x[i].unsqueeze(-1)], dim=-1).unsqueeze(0)
        want = causal_conv1d_ref(seq.double(), weight.double(), bias.double(), activation="silu")
        _check(packed[0, :, lo:hi], want[0, :, :-1], F32, f"sequence {i}")
        _check(step[i], want[0, :, -1], F32, f"sequence {i} step")


class _InnerConv(torch.autograd.Function):
    """The conv part of mamba_ssm's MambaInnerFn: forward and backward call the
    low-level functions; backward recomputes the conv (checkpoint_lvl=1) and
    writes dx into one half of a preallocated `dxz` (B, 2D, L)."""

    @staticmethod
    def forward(ctx: Any, xz: Tensor, weight: Tensor, bias: Tensor, fwd: Any, bwd: Any) -> Tensor:
        x, z = xz.chunk(2, dim=1)
        conv = fwd(x, weight, bias, None, None, None, True)
        ctx.save_for_backward(xz, weight, bias)
        ctx.bwd, ctx.fwd = bwd, fwd
        return conv * z

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        xz, weight, bias = ctx.saved_tensors
        x, z = xz.chunk(2, dim=1)
        conv = ctx.fwd(x, weight, bias, None, None, None, True)
        dxz = torch.empty_like(xz)
        dx, dz = dxz.chunk(2, dim=1)
        torch.mul(grad, conv, out=dz)
        # dconv laid out as MambaInnerFn gets it: (D, B*L) viewed as (B, D, L).
        batch, dim, seqlen = x.shape
        dconv = (grad * z).permute(1, 0, 2).reshape(dim, batch * seqlen)
        dconv = dconv.view(dim, batch, seqlen).permute(1, 0, 2)
        dx_out, dweight, dbias, *_ = ctx.bwd(
            x, weight, bias, dconv, None, None, None, dx, False, True
        )
        assert dx_out.data_ptr() == dx.data_ptr()  # dx was filled in place
        return dxz, dweight, dbias, None, None


INNER_APIS = {
    # mamba_ssm 2.3.2.post1, ops/selective_scan_interface.py, MambaInnerFn
    "cpp_functions": (
        cpp_functions.causal_conv1d_fwd_function,
        cpp_functions.causal_conv1d_bwd_function,
    ),
    # mamba_ssm 2.2.2, ops/selective_scan_interface.py, MambaInnerFn (7- and 10-argument forms)
    "causal_conv1d_cuda": (
        causal_conv1d_cuda.causal_conv1d_fwd,
        causal_conv1d_cuda.causal_conv1d_bwd,
    ),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("api", list(INNER_APIS))
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_mamba_inner_fn_pattern(device: str, api: str, dtype: torch.dtype) -> None:
    """MambaInnerFn (see INNER_APIS for the versions): x is `xz.chunk(2, dim=1)[0]`
    with strides (L, B*L, 1), dout arrives as (D, B*L) rearranged to (B, D, L),
    and dx is a caller buffer inside dxz."""
    fwd, bwd = INNER_APIS[api]
    batch, dim, seqlen, width = 2, 16, 13, 4
    xz = _mamba_xz(batch, dim, seqlen, dtype, device)
    weight = torch.randn(dim, width, dtype=dtype, device=device)
    bias = torch.randn(dim, dtype=dtype, device=device)
    grad = torch.randn(batch, dim, seqlen, dtype=dtype, device=device)
    ours, ref = _leaves(xz, weight, bias), _leaves64(xz, weight, bias)
    assert ours[0].stride() == xz.stride()
    out = _InnerConv.apply(*ours, fwd, bwd)
    out.backward(grad)
    x, z = ref[0].chunk(2, dim=1)
    want = causal_conv1d_ref(x, ref[1], ref[2], activation="silu") * z
    want.backward(grad.double())
    _check(out, want, dtype, "out")
    _check_grads(ours, ref, ["xz", "weight", "bias"], dtype)


class _VendoredCausalConv1dFn(torch.autograd.Function):
    """Upstream's own CausalConv1dFn structure (causal_conv1d_interface.py in
    causal-conv1d 1.7.0), as code that vendors it runs on top of cpp_functions:
    forward returns causal_conv1d_fwd_function's output directly."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight, bias)
        return cpp_functions.causal_conv1d_fwd_function(x, weight, bias, None, None, None, True)

    @staticmethod
    def backward(ctx: Any, dout: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, bias = ctx.saved_tensors
        dx, dweight, dbias, _ = cpp_functions.causal_conv1d_bwd_function(
            x, weight, bias, dout, None, None, None, None, False, True
        )
        return dx, dweight, dbias


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
def test_custom_function_output_modified_in_place(device: str, channel_last: bool) -> None:
    batch, dim, seqlen, width = 2, 16, 10, 3
    if channel_last:
        x = _channel_last(batch, dim, seqlen, F32, device)
    else:
        x = torch.randn(batch, dim, seqlen, device=device)
    weight = torch.randn(dim, width, device=device)
    bias = torch.randn(dim, device=device)
    grad = torch.randn(batch, dim, seqlen, device=device)
    ours, ref = _leaves(x, weight, bias), _leaves64(x, weight, bias)
    out = _VendoredCausalConv1dFn.apply(*ours)
    out.mul_(2)
    out.backward(grad)
    want = causal_conv1d_ref(*ref, activation="silu")
    want.mul_(2)
    want.backward(grad.double())
    _check(out, want, F32, "out")
    _check_grads(ours, ref, ["x", "weight", "bias"], F32)


def _ensure_stride(t: Tensor) -> Tensor:
    """ssd_combined.py's ensure_stride: keep t if its row stride is a multiple of 8."""
    return t if t.stride(1) % 8 == 0 else t.contiguous()


class _SplitConv(torch.autograd.Function):
    """The conv part of mamba_ssm's MambaSplitConv1dScanCombinedFn, with a
    simple gate standing in for the scan. `form` picks the release:
    "2.3.2" calls cpp_functions on ensure_stride'd views and copies dx back
    only when strides differ; "2.2.2" calls causal_conv1d_cuda (7- and 10-arg
    forms) and relies on dx being written into its slice of dzxbcdt."""

    @staticmethod
    def forward(
        ctx: Any,
        zxbcdt: Tensor,
        weight: Tensor,
        bias: Tensor,
        seq_idx: Tensor,
        splits: Any,
        form: str,
    ) -> Tensor:
        z, xBC, _ = torch.split(zxbcdt, splits, dim=-1)
        if form == "2.3.2":
            conv = cpp_functions.causal_conv1d_fwd_function(
                _ensure_stride(xBC).transpose(1, 2), weight, bias, seq_idx, None, None, True
            )
        else:
            conv = causal_conv1d_cuda.causal_conv1d_fwd(
                xBC.transpose(1, 2), weight, bias, seq_idx, None, None, True
            )
        conv = conv.transpose(1, 2)
        ctx.save_for_backward(zxbcdt, weight, bias, seq_idx, conv)
        ctx.splits, ctx.form = splits, form
        return conv[..., : z.shape[-1]] * z + conv[..., z.shape[-1] :].sum(-1, keepdim=True)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        zxbcdt, weight, bias, seq_idx, conv = ctx.saved_tensors
        z, xBC, _ = torch.split(zxbcdt, ctx.splits, dim=-1)
        dim = z.shape[-1]
        dzxbcdt = torch.empty_like(zxbcdt)
        dz, dxBC_given, ddt = torch.split(dzxbcdt, ctx.splits, dim=-1)
        torch.mul(grad, conv[..., :dim], out=dz)
        ddt.zero_()
        dxBC = torch.empty_like(xBC)
        torch.mul(grad, z, out=dxBC[..., :dim])
        dxBC[..., dim:] = grad.sum(-1, keepdim=True)
        if ctx.form == "2.3.2":
            dx_upd, dweight, dbias, *_ = cpp_functions.causal_conv1d_bwd_function(
                _ensure_stride(xBC).transpose(1, 2),
                weight,
                bias,
                _ensure_stride(dxBC).transpose(1, 2),
                seq_idx,
                None,
                None,
                _ensure_stride(dxBC_given).transpose(1, 2),
                False,
                True,
            )
            dx_upd = dx_upd.transpose(1, 2)
            if dxBC_given.stride() != dx_upd.stride():
                dxBC_given.copy_(dx_upd)
        else:
            _, dweight, dbias, *_ = causal_conv1d_cuda.causal_conv1d_bwd(
                xBC.transpose(1, 2),
                weight,
                bias,
                dxBC.transpose(1, 2),
                seq_idx,
                None,
                None,
                dxBC_given.transpose(1, 2),
                False,
                True,
            )
        return dzxbcdt, dweight, dbias, None, None, None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("form", ["2.3.2", "2.2.2"])
@pytest.mark.parametrize("nheads", [2, 16], ids=["row-stride-50", "row-stride-64"])
def test_mamba_split_conv1d_scan_combined_pattern(device: str, form: str, nheads: int) -> None:
    """mamba_ssm/ops/triton/ssd_combined.py, MambaSplitConv1dScanCombinedFn
    (mamba_ssm 2.3.2.post1 and 2.2.2, see _SplitConv): xBC is a column slice
    of zxbcdt (B, L, d_in_proj) passed channel-last with seq_idx, and the
    caller returns dzxbcdt, so dx must land in its slice of that buffer. A row
    stride of 64 keeps the slice as is; 50 makes 2.3.2's ensure_stride copy."""
    batch, seqlen, dim, conv_dim, width = 2, 12, 16, 32, 4
    splits = [dim, conv_dim, nheads]
    zxbcdt = torch.randn(batch, seqlen, sum(splits), device=device)
    weight = torch.randn(conv_dim, width, device=device)
    bias = torch.randn(conv_dim, device=device)
    seq_idx = torch.tensor([[0] * 5 + [1] * 7, [0] * 12], dtype=torch.int32, device=device)
    grad = torch.randn(batch, seqlen, dim, device=device)
    ours, ref = _leaves(zxbcdt, weight, bias), _leaves64(zxbcdt, weight, bias)
    out = _SplitConv.apply(*ours, seq_idx, splits, form)
    out.backward(grad)
    z, xBC, _ = torch.split(ref[0], splits, dim=-1)
    conv = causal_conv1d_ref(
        xBC.transpose(1, 2), ref[1], ref[2], activation="silu", seq_idx=seq_idx
    ).transpose(1, 2)
    want = conv[..., :dim] * z + conv[..., dim:].sum(-1, keepdim=True)
    want.backward(grad.double())
    _check(out, want, F32, "out")
    _check_grads(ours, ref, ["zxbcdt", "weight", "bias"], F32)


# ---------------------------------------------------------------- transformers


def _hf_projection(
    model: str, batch: int, seqlen: int, conv_dim: int, dtype: torch.dtype, device: str
) -> Tensor:
    """in_proj's output, (B, L, d_in_proj); see _hf_conv_input."""
    width = {"mamba": 2 * conv_dim, "mamba2": 8 + conv_dim + 4, "zamba": 2 * conv_dim}[model]
    return torch.randn(batch, seqlen, width, dtype=dtype, device=device)


def _hf_conv_input(model: str, projected: Tensor, conv_dim: int) -> Tensor:
    """hidden_states_B_C as transformers 5.24.0 cuts it from the projection.

    mamba: models/mamba/modeling_mamba.py MambaMixer.forward (also Jamba,
    FalconMamba): `in_proj(h).transpose(1, 2).chunk(2, dim=1)[0]`, channel-last
    with a row stride of 2 * D.
    mamba2: models/mamba2/modeling_mamba2.py Mamba2Mixer.forward (also Bamba,
    Zamba2): `in_proj(h).split([...], dim=-1)[1].transpose(1, 2)`.
    zamba: models/zamba/modeling_zamba.py ZambaMambaMixer.forward: a
    `.contiguous()` channel-first copy of the first half.
    """
    if model == "mamba":
        return projected.transpose(1, 2).chunk(2, dim=1)[0]
    if model == "mamba2":
        return projected.split([8, conv_dim, 4], dim=-1)[1].transpose(1, 2)
    return projected.transpose(1, 2).chunk(2, dim=1)[0].contiguous()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", ["mamba", "mamba2", "zamba"])
@pytest.mark.parametrize("dtypes", [(F32, F32), (BF16, BF16)], ids=_pair_id)
def test_transformers_cache_prefill_chunk_and_decode(
    device: str, model: str, dtypes: tuple[torch.dtype, torch.dtype]
) -> None:
    """transformers 5.24.0 mixers with a cache (see _hf_conv_input for the
    files) and cache_utils.py LinearAttentionLayer.update_conv_state: a zeroed
    (B, D, W) conv_state; a prefill shorter than W is left-padded before the
    conv and the output cut to `[:, :, -seq_len:]`; a second prefill chunk
    convolves `cat([conv_state, x], -1)`; the state keeps the last W inputs
    via copy_; single tokens go through causal_conv1d_update with a (B, D, 1)
    x and keyword activation. Zamba passes `seq_idx=kwargs.get("seq_idx")`."""
    xtype, wtype = dtypes
    batch, conv_dim, width = 2, 16, 4
    weight = torch.randn(conv_dim, 1, width, dtype=wtype, device=device).squeeze(1)
    bias = torch.randn(conv_dim, dtype=wtype, device=device)
    extra = {"seq_idx": None} if model == "zamba" else {}
    conv_state = torch.zeros(batch, conv_dim, width, dtype=xtype, device=device)
    outs, tokens = [], []
    for i, seq_len in enumerate([2, 5, 1, 1, 1]):
        projected = _hf_projection(model, batch, seq_len, conv_dim, xtype, device)
        hs = _hf_conv_input(model, projected, conv_dim)
        tokens.append(hs)
        if seq_len == 1:
            out = causal_conv1d_update(hs, conv_state, weight, bias, activation="silu")
        else:
            if i == 0:
                full = F.pad(hs, (max(width - seq_len, 0), 0), value=0)
            else:
                full = torch.cat([conv_state, hs], dim=-1)
            conv_state.copy_(full[..., -width:])
            out = causal_conv1d_fn(full, weight, bias, activation="silu", **extra)
            out = out[:, :, -seq_len:]
        outs.append(out)
    whole = torch.cat(tokens, dim=-1)
    want = causal_conv1d_ref(whole.double(), weight.double(), bias.double(), activation="silu")
    _check(torch.cat(outs, dim=-1), want, _coarsest(xtype, wtype), "prefill, chunk, decode")
    assert torch.equal(conv_state, whole[..., -width:])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", ["mamba", "mamba2", "zamba"])
@pytest.mark.parametrize("packed", [False, True], ids=["plain", "seq_idx"])
def test_transformers_training_step(device: str, model: str, packed: bool) -> None:
    """transformers 5.24.0 mixers in training without mamba_ssm (see
    _hf_conv_input): `causal_conv1d_fn(hs, weight.squeeze(1), bias,
    activation=..., **kwargs)`, where kwargs may carry seq_idx for packed
    sequences; the output is transposed, masked and split, then backward
    into the projection."""
    batch, seqlen, conv_dim, width = 2, 10, 16, 4
    projected = _hf_projection(model, batch, seqlen, conv_dim, BF16, device)
    weight = torch.randn(conv_dim, width, dtype=BF16, device=device)
    bias = torch.randn(conv_dim, dtype=BF16, device=device)
    kwargs = {}
    if packed:
        kwargs["seq_idx"] = torch.tensor(
            [[0, 0, 0, 1, 1, 1, 1, 2, 2, 2], [0] * 10], dtype=torch.int32, device=device
        )
    mask = torch.ones(batch, seqlen, device=device)
    mask[1, :3] = 0  # left padding in row 1
    grad = torch.randn(batch, seqlen, conv_dim, dtype=BF16, device=device)

    def run(fn: Callable[..., Any], leaves: list[Tensor]) -> Tensor:
        projected, weight, bias = leaves
        hs = _hf_conv_input(model, projected, conv_dim)
        out = fn(hs, weight, bias, activation="silu", **kwargs).transpose(1, 2)
        out = (out * mask[:, :, None]).to(out.dtype)  # apply_mask_to_padding_states
        first, rest = torch.split(out, [8, 8], dim=-1)
        loss = (first * grad[..., :8]).sum() + (rest * grad[..., 8:]).sum()
        loss.backward()
        return out

    ours, ref = _leaves(projected, weight, bias), _leaves64(projected, weight, bias)
    _check(run(causal_conv1d_fn, ours), run(causal_conv1d_ref, ref), BF16, "out")
    _check_grads(ours, ref, ["projection", "weight", "bias"], BF16)


# ---------------------------------------------------------------- torch.compile


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
def test_compiled_in_place_on_outputs(device: str, channel_last: bool) -> None:
    torch._dynamo.reset()

    def step(x: Tensor, w: Tensor, b: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        out, final = causal_conv1d_fn(
            x, w, b, initial_states=s, return_final_states=True, activation="silu"
        )
        out += F.sigmoid(final).sum(dim=-1, keepdim=True)
        final.mul_(2)
        return out, final

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    batch, dim, seqlen, width = 2, 16, 9, 4
    if channel_last:
        x = _channel_last(batch, dim, seqlen, F32, device)
        init = _channel_last(batch, dim, width - 1, F32, device)
    else:
        x = torch.randn(batch, dim, seqlen, device=device)
        init = torch.randn(batch, dim, width - 1, device=device)
    weight = torch.randn(dim, width, device=device)
    bias = torch.randn(dim, device=device)
    g_out = torch.randn(batch, dim, seqlen, device=device)
    g_final = torch.randn(batch, dim, width - 1, device=device)
    ours, ref = _leaves(x, weight, bias, init), _leaves64(x, weight, bias, init)
    got = compiled(*ours)
    torch.autograd.backward(list(got), [g_out, g_final])

    def ref_step(x: Tensor, w: Tensor, b: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        out, final = causal_conv1d_ref(
            x, w, b, initial_states=s, return_final_states=True, activation="silu"
        )
        out += F.sigmoid(final).sum(dim=-1, keepdim=True)
        final.mul_(2)
        return out, final

    want = ref_step(*ref)
    torch.autograd.backward(list(want), [g_out.double(), g_final.double()])
    _check(got[0], want[0], F32, "out")
    _check(got[1], want[1], F32, "final_states")
    _check_grads(ours, ref, ["x", "weight", "bias", "initial_states"], F32)


@pytest.mark.parametrize("device", DEVICES)
def test_compiled_decode_step_with_parameter_weight(device: str) -> None:
    torch._dynamo.reset()

    def decode(x: Tensor, state: Tensor, w: Tensor, b: Tensor) -> Tensor:
        out = causal_conv1d_update(x, state, w, b, "silu")
        out.mul_(2)
        return out

    compiled = torch.compile(decode, fullgraph=True, backend="aot_eager")
    weight = torch.randn(16, 4, device=device, requires_grad=True)
    bias = torch.randn(16, device=device, requires_grad=True)
    state = torch.randn(3, 16, 3, device=device)
    ref_state = state.double()
    for _ in range(3):
        x = torch.randn(3, 16, device=device)
        out = compiled(x, state, weight, bias)
        want = 2 * causal_conv1d_update_ref(
            x.double(), ref_state, weight.detach().double(), bias.detach().double(), "silu"
        )
        _check(out, want, F32, "compiled step")
        assert torch.equal(state.double(), ref_state)
