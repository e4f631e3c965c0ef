"""CUDA-only stress tests: repeat-run races and large shapes. Skip without a GPU."""

from __future__ import annotations

import pytest
import torch
from cc1d_testing import BF16, F32, assert_close, make_x

from causal_conv1d import causal_conv1d_fn, causal_conv1d_update
from causal_conv1d.causal_conv1d_interface import causal_conv1d_ref, causal_conv1d_update_ref

pytestmark = [
    pytest.mark.extension,
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
def test_deterministic_backward_has_no_races(
    channel_last: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same large backward, many times: bit-identical in deterministic mode."""
    monkeypatch.setenv("CAUSAL_CONV1D_DETERMINISTIC", "1")
    torch.manual_seed(0)
    x = make_x(8, 2048, 4096, BF16, "cuda", channel_last).requires_grad_()
    weight = torch.randn(2048, 4, device="cuda", requires_grad=True)
    bias = torch.randn(2048, device="cuda", requires_grad=True)
    dout = torch.randn(8, 2048, 4096, dtype=BF16, device="cuda")
    out = causal_conv1d_fn(x, weight, bias, activation="silu")
    first = torch.autograd.grad(out, (x, weight, bias), dout, retain_graph=True)
    for _ in range(20):
        again = torch.autograd.grad(out, (x, weight, bias), dout, retain_graph=True)
        for a, b in zip(first, again, strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_long_sequence(channel_last: bool, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = make_x(1, 512, 131072, dtype, "cuda", channel_last)
    weight = torch.randn(512, 4, dtype=dtype, device="cuda")
    bias = torch.randn(512, dtype=dtype, device="cuda")
    init = torch.randn(1, 512, 3, dtype=dtype, device="cuda")
    out, final = causal_conv1d_fn(
        x, weight, bias, initial_states=init, return_final_states=True, activation="silu"
    )
    ref, ref_final = causal_conv1d_ref(
        x, weight, bias, init, return_final_states=True, activation="silu"
    )
    assert_close(out, ref, dtype)
    assert torch.equal(final, ref_final)


def test_large_batch_and_dim_backward() -> None:
    torch.manual_seed(0)
    x = make_x(16, 8192, 512, BF16, "cuda", channel_last=True).requires_grad_()
    weight = torch.randn(8192, 4, device="cuda", requires_grad=True)
    out = causal_conv1d_fn(x, weight, activation="silu")
    dout = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, weight), dout)
    xr = x.detach().float().requires_grad_()
    wr = weight.detach().clone().requires_grad_()
    want = torch.autograd.grad(causal_conv1d_ref(xr, wr, activation="silu"), (xr, wr), dout.float())
    assert_close(got[0], want[0], BF16)
    scale = want[1].abs().max().item()
    torch.testing.assert_close(got[1], want[1], rtol=3e-4, atol=1e-3 * scale)


def test_large_decode_batch() -> None:
    torch.manual_seed(0)
    x = torch.randn(256, 8192, dtype=BF16, device="cuda")
    state = torch.randn(512, 8192, 3, dtype=BF16, device="cuda")
    weight = torch.randn(8192, 4, dtype=BF16, device="cuda")
    indices = torch.randperm(512, device="cuda")[:256].to(torch.int32)
    state_ref = state.clone()
    out = causal_conv1d_update(x, state, weight, None, "silu", None, indices)
    ref = causal_conv1d_update_ref(x, state_ref, weight, None, "silu", None, indices)
    assert_close(out, ref, BF16)
    assert torch.equal(state, state_ref)
