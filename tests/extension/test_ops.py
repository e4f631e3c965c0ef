"""The registered ops: opcheck, torch.compile, and argument validation."""

from __future__ import annotations

import pytest
import torch
from cc1d_testing import BF16, DEVICES, F32, assert_close, make_seq_idx, make_states, make_x

from causal_conv1d import causal_conv1d_fn, causal_conv1d_update
from causal_conv1d.causal_conv1d_interface import causal_conv1d_ref, causal_conv1d_update_ref

pytestmark = pytest.mark.extension

ops = torch.ops.causal_conv1d


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ---------------------------------------------------------------- opcheck


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
def test_opcheck_fwd(device: str, channel_last: bool) -> None:
    x = make_x(2, 16, 12, F32, device, channel_last).requires_grad_()
    weight = torch.randn(16, 4, device=device, requires_grad=True)
    bias = torch.randn(16, device=device, requires_grad=True)
    init = make_states(2, 16, 4, F32, device, channel_last).requires_grad_()
    torch.library.opcheck(ops.fwd.default, (x, weight, bias, None, init, True, True))
    seq_idx = make_seq_idx(2, 12, device)
    torch.library.opcheck(ops.fwd.default, (x, weight, None, seq_idx, None, False, False))
    x16 = make_x(2, 16, 12, BF16, device, channel_last)
    torch.library.opcheck(ops.fwd.default, (x16, weight.detach(), None, None, None, True, True))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
def test_opcheck_bwd(device: str, channel_last: bool) -> None:
    x = make_x(2, 16, 12, F32, device, channel_last)
    weight = torch.randn(16, 3, device=device)
    bias = torch.randn(16, device=device)
    dout = make_x(2, 16, 12, F32, device, channel_last)
    init = make_states(2, 16, 3, F32, device, channel_last)
    dfinal = make_states(2, 16, 3, F32, device, channel_last)
    torch.library.opcheck(
        ops.bwd.default, (x, weight, bias, dout, None, init, dfinal, True, True, True)
    )
    seq_idx = make_seq_idx(2, 12, device)
    torch.library.opcheck(
        ops.bwd.default, (x, weight, None, dout, seq_idx, None, None, False, False, False)
    )


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_update(device: str) -> None:
    x = torch.randn(3, 16, 2, device=device)
    state = torch.randn(5, 16, 4, device=device)
    weight = torch.randn(16, 4, device=device)
    bias = torch.randn(16, device=device)
    seqlens = torch.tensor([0, 3, 9], dtype=torch.int32, device=device)
    indices = torch.tensor([4, -1, 0], dtype=torch.int32, device=device)
    torch.library.opcheck(ops.update.default, (x, state, weight, bias, True, seqlens, indices))
    plain_state = torch.randn(3, 16, 3, device=device)
    torch.library.opcheck(ops.update.default, (x, plain_state, weight, None, False, None, None))
    # Parameters that require grad exercise update's Autograd kernel (see _ops.py).
    weight_param = weight.clone().requires_grad_()
    bias_param = bias.clone().requires_grad_()
    torch.library.opcheck(
        ops.update.default, (x, plain_state, weight_param, bias_param, True, None, None)
    )


# ---------------------------------------------------------------- torch.compile


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
def test_compile_fn_fullgraph(device: str, channel_last: bool) -> None:
    torch._dynamo.reset()

    def step(
        x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, s: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out, final = causal_conv1d_fn(
            x, w, b, initial_states=s, return_final_states=True, activation="silu"
        )
        return out * 2, final

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    x = make_x(2, 16, 33, F32, device, channel_last).requires_grad_()
    weight = torch.randn(16, 4, device=device, requires_grad=True)
    bias = torch.randn(16, device=device, requires_grad=True)
    init = make_states(2, 16, 4, F32, device, channel_last).requires_grad_()
    out, final = compiled(x, weight, bias, init)
    ref_out, ref_final = step(x, weight, bias, init)
    assert_close(out, ref_out, F32)
    assert torch.equal(final, ref_final)
    got = torch.autograd.grad(out.sum() + final.sum(), (x, weight, bias, init))
    want = torch.autograd.grad(ref_out.sum() + ref_final.sum(), (x, weight, bias, init))
    for a, b in zip(got, want, strict=True):
        assert_close(a, b, F32)


@pytest.mark.parametrize("device", DEVICES)
def test_compile_update_fullgraph(device: str) -> None:
    torch._dynamo.reset()

    def decode(
        x: torch.Tensor, state: torch.Tensor, w: torch.Tensor, seqlens: torch.Tensor
    ) -> torch.Tensor:
        return causal_conv1d_update(x, state, w, None, "silu", seqlens) + 1

    compiled = torch.compile(decode, fullgraph=True, backend="aot_eager")
    x = torch.randn(3, 16, device=device)
    weight = torch.randn(16, 3, device=device)
    seqlens = torch.tensor([0, 5, 2], dtype=torch.int32, device=device)
    state = torch.randn(3, 16, 4, device=device)
    state_ref = state.clone()
    out = compiled(x, state, weight, seqlens)
    ref = causal_conv1d_update_ref(x, state_ref, weight, None, "silu", seqlens) + 1
    assert_close(out, ref, F32)
    assert torch.equal(state, state_ref)  # the in-place update survives compilation


# ---------------------------------------------------------------- bad inputs


def _x(device: str) -> torch.Tensor:
    return torch.randn(2, 8, 10, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("case", "argument"),
    [
        ("width5", "weight"),
        ("weight_dim", "weight"),
        ("weight_dtype", "weight"),
        ("x_dtype", "x"),
        ("x_rank", "x"),
        ("bias_shape", "bias"),
        ("bias_dtype", "bias"),
        ("seq_idx_dtype", "seq_idx"),
        ("seq_idx_shape", "seq_idx"),
        ("init_shape", "initial_states"),
        ("init_dtype", "initial_states"),
        ("seq_and_final", "seq_idx"),
        ("activation", "activation"),
    ],
)
def test_bad_fwd_inputs(device: str, case: str, argument: str) -> None:
    x, weight = _x(device), torch.randn(8, 4, device=device)
    kwargs: dict[str, object] = {}
    if case == "width5":
        weight = torch.randn(8, 5, device=device)
    elif case == "weight_dim":
        weight = torch.randn(7, 4, device=device)
    elif case == "weight_dtype":
        weight = weight.to(torch.int32)
    elif case == "x_dtype":
        x = x.to(torch.int32)
    elif case == "x_rank":
        x = x[0]
    elif case == "bias_shape":
        kwargs["bias"] = torch.randn(9, device=device)
    elif case == "bias_dtype":
        kwargs["bias"] = torch.randn(8, device=device, dtype=BF16)
    elif case == "seq_idx_dtype":
        kwargs["seq_idx"] = torch.zeros(2, 10, dtype=torch.int64, device=device)
    elif case == "seq_idx_shape":
        kwargs["seq_idx"] = torch.zeros(2, 9, dtype=torch.int32, device=device)
    elif case == "init_shape":
        kwargs["initial_states"] = torch.randn(2, 8, 4, device=device)
    elif case == "init_dtype":
        kwargs["initial_states"] = torch.randn(2, 8, 3, device=device, dtype=BF16)
    elif case == "seq_and_final":
        kwargs["seq_idx"] = torch.zeros(2, 10, dtype=torch.int32, device=device)
        kwargs["return_final_states"] = True
    elif case == "activation":
        kwargs["activation"] = "relu"
    with pytest.raises((ValueError, RuntimeError), match=f"causal_conv1d: {argument}"):
        causal_conv1d_fn(x, weight, **kwargs)  # type: ignore[arg-type]


def test_bad_activation_is_also_not_implemented_error() -> None:
    x, weight = _x("cpu"), torch.randn(8, 4)
    with pytest.raises(NotImplementedError, match="activation"):
        causal_conv1d_fn(x, weight, activation="gelu")
    with pytest.raises(NotImplementedError, match="activation"):
        causal_conv1d_update(x, torch.zeros(2, 8, 3), weight, activation="gelu")
    with pytest.raises(NotImplementedError, match="activation"):
        causal_conv1d_ref(x, weight, activation="gelu")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("case", "argument"),
    [
        ("state_short", "conv_state"),
        ("state_batch", "conv_state"),
        ("state_dtype", "conv_state"),
        ("seqlens_dtype", "cache_seqlens"),
        ("seqlens_shape", "cache_seqlens"),
        ("indices_dtype", "conv_state_indices"),
        ("width5", "weight"),
    ],
)
def test_bad_update_inputs(device: str, case: str, argument: str) -> None:
    x = torch.randn(2, 8, 1, device=device)
    state = torch.randn(2, 8, 3, device=device)
    weight = torch.randn(8, 4, device=device)
    kwargs: dict[str, object] = {}
    if case == "state_short":
        state = torch.randn(2, 8, 2, device=device)
    elif case == "state_batch":
        state = torch.randn(3, 8, 3, device=device)
    elif case == "state_dtype":
        state = state.to(BF16)
    elif case == "seqlens_dtype":
        kwargs["cache_seqlens"] = torch.zeros(2, dtype=torch.int64, device=device)
    elif case == "seqlens_shape":
        kwargs["cache_seqlens"] = torch.zeros(3, dtype=torch.int32, device=device)
    elif case == "indices_dtype":
        kwargs["conv_state_indices"] = torch.zeros(2, dtype=torch.int64, device=device)
    elif case == "width5":
        weight = torch.randn(8, 5, device=device)
    with pytest.raises(RuntimeError, match=f"causal_conv1d: {argument}"):
        causal_conv1d_update(x, state, weight, **kwargs)  # type: ignore[arg-type]


def test_update_index_out_of_range_cpu() -> None:
    x = torch.randn(2, 8, 1)
    state = torch.randn(3, 8, 3)
    indices = torch.tensor([0, 3], dtype=torch.int32)
    with pytest.raises(RuntimeError, match="conv_state_indices"):
        causal_conv1d_update(x, state, torch.randn(8, 4), conv_state_indices=indices)


def test_error_message_states_expected_and_got() -> None:
    with pytest.raises(RuntimeError) as info:
        causal_conv1d_fn(_x("cpu"), torch.randn(8, 5))
    message = str(info.value)
    assert message.startswith("causal_conv1d:") or "causal_conv1d: weight" in message
    assert "(8, W)" in message and "got (8, 5)" in message


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("argument", ["weight", "bias", "initial_states", "seq_idx"])
def test_device_mismatch(argument: str) -> None:
    x = torch.randn(2, 8, 10, device="cuda")
    args: dict[str, torch.Tensor] = {
        "weight": torch.randn(8, 4, device="cuda"),
        "bias": torch.randn(8, device="cuda"),
        "initial_states": torch.randn(2, 8, 3, device="cuda"),
        "seq_idx": torch.zeros(2, 10, dtype=torch.int32, device="cuda"),
    }
    args[argument] = args[argument].cpu()
    with pytest.raises(RuntimeError, match=f"causal_conv1d: {argument}"):
        causal_conv1d_fn(x, **args)  # type: ignore[arg-type]


def test_reference_matches_plain_conv() -> None:
    """Sanity of the reference itself against an explicit loop."""
    x = torch.randn(1, 3, 6, dtype=torch.float64)
    weight = torch.randn(3, 3, dtype=torch.float64)
    out = causal_conv1d_ref(x, weight)
    expected = torch.zeros_like(x)
    for t in range(6):
        for k in range(3):
            src = t - 2 + k
            if src >= 0:
                expected[..., t] += weight[:, k] * x[..., src]
    torch.testing.assert_close(out, expected)
