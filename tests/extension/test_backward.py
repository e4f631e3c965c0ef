"""Backward: gradcheck in float64, autograd through the reference, determinism."""

from __future__ import annotations

import pytest
import torch
from cc1d_testing import (
    BF16,
    DEVICES,
    F16,
    F32,
    assert_close,
    make_seq_idx,
    make_states,
    make_x,
)

from causal_conv1d import causal_conv1d_fn
from causal_conv1d.causal_conv1d_interface import causal_conv1d_ref

pytestmark = pytest.mark.extension


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _grads(
    fn: object,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    init: torch.Tensor | None,
    seq_idx: torch.Tensor | None,
    activation: str | None,
    dout: torch.Tensor,
    dfinal: torch.Tensor | None,
) -> list[torch.Tensor]:
    """Gradients of <out, dout> (+ <final, dfinal>) w.r.t. every differentiable input."""
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight)]
    extra = [t.detach().clone().requires_grad_() if t is not None else None for t in (bias, init)]
    kwargs: dict[str, object] = {"activation": activation, "initial_states": extra[1]}
    if seq_idx is not None:
        kwargs["seq_idx"] = seq_idx
    if dfinal is not None:
        kwargs["return_final_states"] = True
    result = fn(leaves[0], leaves[1], extra[0], **kwargs)  # type: ignore[operator]
    if dfinal is not None:
        out, final = result
        loss = (out.float() * dout.float()).sum() + (final.float() * dfinal.float()).sum()
    else:
        loss = (result.float() * dout.float()).sum()
    inputs = leaves + [t for t in extra if t is not None]
    return list(torch.autograd.grad(loss, inputs))


def _check_against_reference(
    device: str,
    channel_last: bool,
    width: int,
    xtype: torch.dtype,
    wtype: torch.dtype,
    seqlen: int,
    *,
    use_bias: bool,
    activation: str | None,
    with_init: bool = False,
    with_seq: bool = False,
    with_dfinal: bool = False,
    dim: int = 37,
) -> None:
    batch = 3
    x = make_x(batch, dim, seqlen, xtype, device, channel_last)
    weight = torch.randn(dim, width, dtype=wtype, device=device)
    bias = torch.randn(dim, dtype=wtype, device=device) if use_bias else None
    init = make_states(batch, dim, width, xtype, device, channel_last) if with_init else None
    seq_idx = make_seq_idx(batch, seqlen, device) if with_seq else None
    dout = torch.randn(batch, dim, seqlen, dtype=xtype, device=device)
    dfinal = torch.randn(batch, dim, width - 1, dtype=xtype, device=device) if with_dfinal else None
    ours = _grads(causal_conv1d_fn, x, weight, bias, init, seq_idx, activation, dout, dfinal)

    # The reference runs in float32 on the same (rounded) input values.
    def up(t: torch.Tensor | None) -> torch.Tensor | None:
        return t.float() if t is not None else None

    ref = _grads(
        causal_conv1d_ref,
        up(x),
        up(weight),
        up(bias),
        up(init),
        seq_idx,
        activation,  # type: ignore[arg-type]
        dout.float(),
        up(dfinal),
    )
    kinds = [xtype, wtype] + ([wtype] if use_bias else []) + ([xtype] if with_init else [])
    names = ["dx", "dweight"] + (["dbias"] if use_bias else []) + (["dinit"] if with_init else [])
    for name, got, want, kind in zip(names, ours, ref, kinds, strict=True):
        assert got.dtype == kind, name
        # Reductions over batch * seqlen get an absolute tolerance relative to
        # their magnitude; dx and dinitial_states are compared as they are.
        reduced = name in ("dweight", "dbias")
        scale = max(1.0, want.abs().max().item()) if reduced else 1.0
        rtol, atol = {F32: (3e-4, 1e-3), F16: (3e-3, 5e-3), BF16: (1e-2, 5e-2)}[kind]
        torch.testing.assert_close(
            got.float(), want, rtol=rtol, atol=atol * scale, msg=lambda m, n=name: f"{n}: {m}"
        )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize(
    "dtypes",
    [(F32, F32), (BF16, BF16), (F16, F16), (F32, BF16), (BF16, F32)],
    ids=lambda p: f"{p[0]}-{p[1]}".replace("torch.", ""),
)
@pytest.mark.parametrize("seqlen", [1, 2, 130, 1025])
def test_backward_matches_reference(
    device: str,
    channel_last: bool,
    width: int,
    dtypes: tuple[torch.dtype, torch.dtype],
    seqlen: int,
) -> None:
    for use_bias, activation in [(True, "silu"), (False, None)]:
        _check_against_reference(
            device, channel_last, width, *dtypes, seqlen, use_bias=use_bias, activation=activation
        )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize("seqlen", [1, 2, 3, 200])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_backward_states(
    device: str, channel_last: bool, width: int, seqlen: int, dtype: torch.dtype
) -> None:
    _check_against_reference(
        device,
        channel_last,
        width,
        dtype,
        dtype,
        seqlen,
        use_bias=True,
        activation="silu",
        with_init=True,
        with_dfinal=True,
    )
    _check_against_reference(
        device,
        channel_last,
        width,
        dtype,
        dtype,
        seqlen,
        use_bias=False,
        activation=None,
        with_init=False,
        with_dfinal=True,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("with_init", [False, True], ids=["no-init", "init"])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_backward_seq_idx(
    device: str, channel_last: bool, width: int, with_init: bool, dtype: torch.dtype
) -> None:
    for seqlen in (5, 300):
        _check_against_reference(
            device,
            channel_last,
            width,
            dtype,
            dtype,
            seqlen,
            use_bias=True,
            activation="silu",
            with_init=with_init,
            with_seq=True,
        )


@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("width", [2, 3, 4])
def test_gradcheck_float64(channel_last: bool, width: int) -> None:
    dim, seqlen = 3, 9
    x = make_x(2, dim, seqlen, torch.float64, "cpu", channel_last).requires_grad_()
    weight = torch.randn(dim, width, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(dim, dtype=torch.float64, requires_grad=True)
    init = make_states(2, dim, width, torch.float64, "cpu", channel_last).requires_grad_()

    def with_states(
        x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, s: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out, final = causal_conv1d_fn(
            x, w, b, initial_states=s, return_final_states=True, activation="silu"
        )
        return out, final

    assert torch.autograd.gradcheck(with_states, (x, weight, bias, init))

    seq_idx = make_seq_idx(2, seqlen, "cpu")

    def with_seq(
        x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, s: torch.Tensor
    ) -> torch.Tensor:
        return causal_conv1d_fn(x, w, b, seq_idx=seq_idx, initial_states=s, activation="silu")

    assert torch.autograd.gradcheck(with_seq, (x, weight, bias, init))
    # Short rows: final states are partly the initial state.
    xs = x[..., :1].detach().contiguous().requires_grad_()
    assert torch.autograd.gradcheck(with_states, (xs, weight, bias, init))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
def test_deterministic_backward_is_bit_identical(
    device: str, channel_last: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAUSAL_CONV1D_DETERMINISTIC", "1")
    x = make_x(4, 256, 2048, BF16, device, channel_last).requires_grad_()
    weight = torch.randn(256, 4, device=device, requires_grad=True)
    bias = torch.randn(256, device=device, requires_grad=True)
    dout = torch.randn(4, 256, 2048, dtype=BF16, device=device)
    runs = []
    for _ in range(3):
        out = causal_conv1d_fn(x, weight, bias, activation="silu")
        runs.append(torch.autograd.grad(out, (x, weight, bias), dout))
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("device", DEVICES)
def test_dout_in_any_layout(device: str) -> None:
    """Gradients arriving in the other layout (or broadcast) are handled."""
    x = make_x(2, 16, 40, F32, device, channel_last=True).requires_grad_()
    weight = torch.randn(16, 4, device=device, requires_grad=True)
    out = causal_conv1d_fn(x, weight)
    (gx,) = torch.autograd.grad(out.sum(), (x,))  # expanded dout, stride 0
    xr = x.detach().clone().requires_grad_()
    (rx,) = torch.autograd.grad(causal_conv1d_ref(xr, weight).sum(), (xr,))
    assert_close(gx, rx, F32)
