"""causal_conv1d_fn forward against the pure-PyTorch reference."""

from __future__ import annotations

import itertools

import pytest
import torch
from cc1d_testing import (
    BF16,
    DEVICES,
    DTYPE_PAIRS,
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


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize(
    "dtypes", DTYPE_PAIRS, ids=lambda p: f"{p[0]}-{p[1]}".replace("torch.", "")
)
@pytest.mark.parametrize("seqlen", [1, 3, 64, 513])
def test_matches_reference(
    device: str,
    channel_last: bool,
    width: int,
    dtypes: tuple[torch.dtype, torch.dtype],
    seqlen: int,
) -> None:
    xtype, wtype = dtypes
    for dim, (use_bias, activation) in itertools.product(
        [8, 37], [(False, None), (True, None), (False, "silu"), (True, "swish")]
    ):
        x = make_x(2, dim, seqlen, xtype, device, channel_last)
        weight = torch.randn(dim, width, dtype=wtype, device=device)
        bias = torch.randn(dim, dtype=wtype, device=device) if use_bias else None
        out = causal_conv1d_fn(x, weight, bias, activation=activation)
        ref = causal_conv1d_ref(x, weight, bias, activation=activation)
        assert out.dtype == xtype and out.shape == x.shape
        assert_close(out, ref, xtype)
        # Output keeps the input's layout class.
        if channel_last and seqlen > 1:
            assert out.stride(1) == 1
        else:
            assert out.is_contiguous()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_long_sequences(device: str, channel_last: bool, dtype: torch.dtype) -> None:
    x = make_x(2, 64, 4096, dtype, device, channel_last)
    weight = torch.randn(64, 4, dtype=dtype, device=device)
    bias = torch.randn(64, dtype=dtype, device=device)
    out = causal_conv1d_fn(x, weight, bias, activation="silu")
    assert_close(out, causal_conv1d_ref(x, weight, bias, activation="silu"), dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize("seqlen", [1, 2, 3, 50])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_initial_and_final_states(
    device: str, channel_last: bool, width: int, seqlen: int, dtype: torch.dtype
) -> None:
    dim = 24
    x = make_x(3, dim, seqlen, dtype, device, channel_last)
    weight = torch.randn(dim, width, dtype=dtype, device=device)
    bias = torch.randn(dim, dtype=dtype, device=device)
    for init_layout_cl in (False, True):
        init = make_states(3, dim, width, dtype, device, init_layout_cl)
        out, final = causal_conv1d_fn(
            x, weight, bias, initial_states=init, return_final_states=True, activation="silu"
        )
        ref_out, ref_final = causal_conv1d_ref(
            x, weight, bias, initial_states=init, return_final_states=True, activation="silu"
        )
        assert_close(out, ref_out, dtype)
        # Final states are copies of inputs: exact.
        assert torch.equal(final, ref_final)
    # Without initial states the final states are zero-padded on the left.
    _, final = causal_conv1d_fn(x, weight, return_final_states=True)
    _, ref_final = causal_conv1d_ref(x, weight, return_final_states=True)
    assert torch.equal(final, ref_final)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("out_channel_last", [False, True], ids=["cf-out", "cl-out"])
def test_final_states_out_written_in_place(device: str, out_channel_last: bool) -> None:
    x = make_x(2, 16, 33, F32, device, channel_last=True)
    weight = torch.randn(16, 4, device=device)
    init = make_states(2, 16, 4, F32, device, channel_last=False)
    final_states_out = make_states(2, 16, 4, F32, device, out_channel_last).fill_(float("nan"))
    out, final = causal_conv1d_fn(
        x,
        weight,
        initial_states=init,
        return_final_states=True,
        final_states_out=final_states_out,
    )
    assert final is final_states_out
    assert torch.equal(final_states_out, x[..., -3:])
    assert_close(out, causal_conv1d_ref(x, weight, initial_states=init), F32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channel_last", [False, True], ids=["cf", "cl"])
@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("with_init", [False, True], ids=["no-init", "init"])
@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_seq_idx(
    device: str, channel_last: bool, width: int, with_init: bool, dtype: torch.dtype
) -> None:
    dim = 40
    for seqlen in (1, 7, 300):
        x = make_x(4, dim, seqlen, dtype, device, channel_last)
        weight = torch.randn(dim, width, dtype=dtype, device=device)
        bias = torch.randn(dim, dtype=dtype, device=device)
        seq_idx = make_seq_idx(4, seqlen, device)
        init = make_states(4, dim, width, dtype, device, channel_last) if with_init else None
        for activation in (None, "silu"):
            out = causal_conv1d_fn(
                x, weight, bias, seq_idx=seq_idx, initial_states=init, activation=activation
            )
            ref = causal_conv1d_ref(
                x, weight, bias, initial_states=init, activation=activation, seq_idx=seq_idx
            )
            assert_close(out, ref, dtype)
            # Padding tokens produce exactly zero.
            assert torch.all(out.transpose(1, 2)[seq_idx < 0] == 0)


@pytest.mark.parametrize("device", DEVICES)
def test_seq_idx_masks_across_boundaries(device: str) -> None:
    """A token right after a boundary sees only itself (plus bias)."""
    x = torch.ones(1, 4, 6, device=device)
    weight = torch.ones(4, 4, device=device)
    seq_idx = torch.tensor([[0, 0, 0, 1, 1, -1]], dtype=torch.int32, device=device)
    out = causal_conv1d_fn(x, weight, seq_idx=seq_idx)
    expected = torch.tensor([1.0, 2.0, 3.0, 1.0, 2.0, 0.0], device=device).expand(1, 4, 6)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("device", DEVICES)
def test_strided_input_is_accepted(device: str) -> None:
    """x in neither layout (no unit stride) is made contiguous by the wrapper."""
    base = torch.randn(2, 50, 2 * 24, device=device)
    x = base[..., ::2].transpose(1, 2)  # (2, 24, 50), strides (2400, 2, 48)
    assert x.stride(1) != 1 and x.stride(2) != 1
    weight = torch.randn(24, 3, device=device)
    assert_close(causal_conv1d_fn(x, weight), causal_conv1d_ref(x, weight), F32)
    # A channel-first view with a padded row stride is used as is.
    y = torch.randn(2, 24, 64, device=device)[..., :50]
    assert_close(causal_conv1d_fn(y, weight), causal_conv1d_ref(y, weight), F32)


@pytest.mark.parametrize("device", DEVICES)
def test_empty_sequence(device: str) -> None:
    x = torch.randn(2, 8, 0, device=device)
    weight = torch.randn(8, 4, device=device)
    init = torch.randn(2, 8, 3, device=device)
    out, final = causal_conv1d_fn(x, weight, initial_states=init, return_final_states=True)
    assert out.shape == (2, 8, 0)
    assert torch.equal(final, init)
