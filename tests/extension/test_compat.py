"""Upstream-compatible module surface: names, cpp_functions, causal_conv1d_cuda."""

from __future__ import annotations

import importlib

import pytest
import torch
from cc1d_testing import DEVICES, F32, assert_close, make_states, make_x

import causal_conv1d
import causal_conv1d_cuda
from causal_conv1d import cpp_functions
from causal_conv1d.causal_conv1d_interface import causal_conv1d_ref, causal_conv1d_update_ref

pytestmark = pytest.mark.extension


def test_public_names() -> None:
    assert causal_conv1d.__version__ == "1.7.0"
    for module, names in {
        "causal_conv1d": ["causal_conv1d_fn", "causal_conv1d_update"],
        "causal_conv1d.causal_conv1d_interface": [
            "causal_conv1d_fn",
            "causal_conv1d_ref",
            "causal_conv1d_update",
            "causal_conv1d_update_ref",
        ],
        "causal_conv1d.causal_conv1d_varlen": [
            "causal_conv1d_varlen_states",
            "causal_conv1d_varlen_states_ref",
        ],
        "causal_conv1d.cpp_functions": [
            "causal_conv1d_fwd_function",
            "causal_conv1d_bwd_function",
            "causal_conv1d_update_function",
        ],
        "causal_conv1d_cuda": ["causal_conv1d_fwd", "causal_conv1d_bwd", "causal_conv1d_update"],
    }.items():
        mod = importlib.import_module(module)
        for name in names:
            assert callable(getattr(mod, name)), f"{module}.{name}"


def _problem(device: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        "x": make_x(2, 16, 20, F32, device, channel_last=True),
        "weight": torch.randn(16, 4, device=device),
        "bias": torch.randn(16, device=device),
        "init": make_states(2, 16, 4, F32, device, channel_last=True),
        "dout": torch.randn(2, 16, 20, device=device),
        "dfinal": torch.randn(2, 16, 3, device=device),
    }


def _ref_grads(p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    leaves = [p[k].detach().clone().requires_grad_() for k in ("x", "weight", "bias", "init")]
    out, final = causal_conv1d_ref(
        leaves[0], leaves[1], leaves[2], leaves[3], return_final_states=True, activation="silu"
    )
    loss = (out * p["dout"]).sum() + (final * p["dfinal"]).sum()
    return torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("device", DEVICES)
def test_cuda_module_current_forms(device: str) -> None:
    p = _problem(device)
    ref_out, ref_final = causal_conv1d_ref(
        p["x"], p["weight"], p["bias"], p["init"], return_final_states=True, activation="silu"
    )
    out = torch.empty_like(p["x"])
    final = torch.empty(2, 3, 16, device=device).transpose(1, 2)
    result = causal_conv1d_cuda.causal_conv1d_fwd(
        p["x"], p["weight"], p["bias"], None, p["init"], out, final, True
    )
    assert result is None
    assert_close(out, ref_out, F32)
    assert torch.equal(final, ref_final)

    dx = torch.empty_like(p["x"])
    dweight = torch.ones(16, 4, device=device)  # accumulated into, as upstream
    dbias = torch.zeros(16, device=device)
    dinit = torch.empty(2, 3, 16, device=device).transpose(1, 2)
    causal_conv1d_cuda.causal_conv1d_bwd(
        p["x"],
        p["weight"],
        p["bias"],
        p["dout"],
        None,
        p["init"],
        p["dfinal"],
        dx,
        dweight,
        dbias,
        dinit,
        True,
    )
    gx, gw, gb, gi = _ref_grads(p)
    assert_close(dx, gx, F32)
    assert_close(dweight, gw + 1, F32)
    assert_close(dbias, gb, F32)
    assert_close(dinit, gi, F32)

    x1 = torch.randn(2, 16, 1, device=device)
    state = torch.randn(2, 16, 3, device=device)
    state_ref = state.clone()
    out1 = torch.empty_like(x1)
    causal_conv1d_cuda.causal_conv1d_update(
        x1, state, p["weight"], p["bias"], out1, True, None, None
    )
    ref1 = causal_conv1d_update_ref(x1, state_ref, p["weight"], p["bias"], "silu")
    assert_close(out1, ref1, F32)
    assert torch.equal(state, state_ref)


@pytest.mark.parametrize("device", DEVICES)
def test_cuda_module_earlier_forms(device: str) -> None:
    p = _problem(device)
    x, w, b = p["x"], p["weight"], p["bias"]
    ref = causal_conv1d_ref(x, w, b, activation="silu")
    assert_close(causal_conv1d_cuda.causal_conv1d_fwd(x, w, b, None, None, None, True), ref, F32)
    assert_close(causal_conv1d_cuda.causal_conv1d_fwd(x, w, b, None, True), ref, F32)
    assert_close(causal_conv1d_cuda.causal_conv1d_fwd(x, w, b, True), ref, F32)

    leaves = [t.detach().clone().requires_grad_() for t in (x, w, b)]
    ref_grads = torch.autograd.grad(
        (causal_conv1d_ref(*leaves, activation="silu") * p["dout"]).sum(), leaves
    )
    dx, dweight, dbias, dinit = causal_conv1d_cuda.causal_conv1d_bwd(
        x, w, b, p["dout"], None, None, None, None, False, True
    )
    assert dinit is None
    for got, want in zip((dx, dweight, dbias), ref_grads, strict=True):
        assert_close(got, want, F32)
    dx_buf = torch.empty_like(x)
    dx2, _, _ = causal_conv1d_cuda.causal_conv1d_bwd(x, w, b, p["dout"], dx_buf, True)
    assert dx2 is dx_buf
    assert_close(dx2, ref_grads[0], F32)

    x1 = torch.randn(2, 16, 1, device=device)
    state = torch.randn(2, 16, 3, device=device)
    state_ref = state.clone()
    out = causal_conv1d_cuda.causal_conv1d_update(x1, state, w, b, True, None, None)
    assert_close(out, causal_conv1d_update_ref(x1, state_ref, w, b, "silu"), F32)
    assert torch.equal(state, state_ref)
    with pytest.raises(TypeError):
        causal_conv1d_cuda.causal_conv1d_fwd(x, w)


@pytest.mark.parametrize("device", DEVICES)
def test_cpp_functions(device: str) -> None:
    p = _problem(device)
    final = torch.empty(2, 16, 3, device=device)
    out = cpp_functions.causal_conv1d_fwd_function(
        p["x"], p["weight"], p["bias"], None, p["init"], final, True
    )
    ref_out, ref_final = causal_conv1d_ref(
        p["x"], p["weight"], p["bias"], p["init"], return_final_states=True, activation="silu"
    )
    assert_close(out, ref_out, F32)
    assert torch.equal(final, ref_final)
    dx, dweight, dbias, dinit = cpp_functions.causal_conv1d_bwd_function(
        p["x"], p["weight"], p["bias"], p["dout"], None, p["init"], p["dfinal"], None, True, True
    )
    for got, want in zip((dx, dweight, dbias, dinit), _ref_grads(p), strict=True):
        assert got is not None
        assert_close(got, want, F32)
    x1 = torch.randn(2, 16, 2, device=device)
    state = torch.randn(2, 16, 5, device=device)
    state_ref = state.clone()
    seqlens = torch.tensor([3, 4], dtype=torch.int32, device=device)
    got = cpp_functions.causal_conv1d_update_function(
        x1, state, p["weight"], None, False, seqlens, None
    )
    want = causal_conv1d_update_ref(x1, state_ref, p["weight"], None, None, seqlens)
    assert_close(got, want, F32)
    assert torch.equal(state, state_ref)
