"""Load the compiled kernels and describe them to torch.

The shared library registers the ``causal_conv1d::{fwd,bwd,update}`` ops with
the dispatcher (no CPython API, so one build serves every Python). This module
loads it and adds what torch needs beyond the kernels: fake (meta) functions
for torch.compile / FakeTensor tracing, and the autograd formula of ``fwd``.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

__all__ = ["deterministic_backward", "ops"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def _built_for() -> str:
    """The torch requirement recorded in this package's metadata, if installed."""
    try:
        requires = metadata.requires("causal-conv1d") or []
    except metadata.PackageNotFoundError:
        return "unknown (not an installed wheel)"
    pins = [r for r in requires if r.replace(" ", "").startswith("torch")]
    return pins[0] if pins else "unknown"


def _load_library() -> None:
    candidates = sorted(_PACKAGE_DIR.glob("_C*.so")) + sorted(_PACKAGE_DIR.glob("_C*.pyd"))
    if not candidates:
        raise ImportError(
            f"causal_conv1d: the compiled extension (_C*.so) is missing from {_PACKAGE_DIR}; "
            "install a causal-conv1d wheel or build it with `python setup.py build_ext --inplace`"
        )
    try:
        torch.ops.load_library(str(candidates[0]))
    except OSError as exc:
        # Typically undefined symbols: the library was compiled against another torch.
        raise ImportError(
            f"causal_conv1d: cannot load {candidates[0].name} with torch {torch.__version__} "
            f"(this build requires {_built_for()}); install the causal-conv1d wheel built for "
            f"your torch. Loader error: {exc}"
        ) from exc


_load_library()
ops = torch.ops.causal_conv1d


def deterministic_backward() -> bool:
    """Whether backward must be bit-reproducible (env overrides torch's global flag)."""
    env = os.environ.get("CAUSAL_CONV1D_DETERMINISTIC")
    if env == "1":
        return True
    if env == "0":
        return False
    return torch.are_deterministic_algorithms_enabled()


def is_channel_last(x: torch.Tensor) -> bool:
    """The kernels' layout rule for a (B, D, L) tensor (see csrc/checks.cpp)."""
    return x.size(2) > 1 and x.stride(1) == 1 and x.stride(2) != 1


def empty_conv_like(x: torch.Tensor, n: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A (B, D, n) tensor in x's layout class, as the kernels allocate it.

    Strided, not a transposed view: autograd rejects in-place ops on views
    returned by a multi-output op, and callers modify outputs in place.
    """
    batch, dim = x.shape[0], x.shape[1]
    dtype = x.dtype if dtype is None else dtype
    strides = (n * dim, 1, dim) if is_channel_last(x) else (dim * n, n, 1)
    return x.new_empty_strided((batch, dim, n), strides, dtype=dtype)


def in_layout_of(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """t (B, D, n) with the same unit-stride axis as x, copying only if needed."""
    if is_channel_last(x):
        if t.stride(1) != 1:
            t = t.transpose(1, 2).contiguous().transpose(1, 2)
        return t
    if t.size(2) > 1 and t.stride(2) != 1:
        t = t.contiguous()
    return t


def either_layout(t: torch.Tensor) -> torch.Tensor:
    """t (B, D, n) with a unit stride on one of its inner axes."""
    if t.size(2) > 1 and t.stride(2) != 1 and t.stride(1) != 1:
        t = t.contiguous()
    return t


# ---------------------------------------------------------------- fake impls


@torch.library.register_fake("causal_conv1d::fwd")
def _fwd_fake(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    seq_idx: torch.Tensor | None,
    initial_states: torch.Tensor | None,
    return_final_states: bool,
    silu: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    torch._check(x.dim() == 3, lambda: "causal_conv1d: x must be (batch, dim, seqlen)")
    torch._check(weight.dim() == 2, lambda: "causal_conv1d: weight must be (dim, width)")
    width = weight.shape[1]
    out = empty_conv_like(x, x.shape[2])
    final_states = empty_conv_like(x, width - 1) if return_final_states else x.new_empty((0,))
    return out, final_states


@torch.library.register_fake("causal_conv1d::bwd")
def _bwd_fake(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dout: torch.Tensor,
    seq_idx: torch.Tensor | None,
    initial_states: torch.Tensor | None,
    dfinal_states: torch.Tensor | None,
    return_dinitial_states: bool,
    silu: bool,
    deterministic: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    dim, width = weight.shape
    dx = empty_conv_like(x, x.shape[2])
    dweight = weight.new_empty((dim, width))
    dbias = weight.new_empty((dim,)) if bias is not None else weight.new_empty((0,))
    dinit = empty_conv_like(x, width - 1) if return_dinitial_states else x.new_empty((0,))
    return dx, dweight, dbias, dinit


@torch.library.register_fake("causal_conv1d::update")
def _update_fake(
    x: torch.Tensor,
    conv_state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    silu: bool,
    cache_seqlens: torch.Tensor | None,
    conv_state_indices: torch.Tensor | None,
) -> torch.Tensor:
    return torch.empty_like(x)


# ---------------------------------------------------------------- autograd


def _fwd_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    x, weight, bias, seq_idx, initial_states, return_final_states, silu = inputs
    ctx.save_for_backward(x, weight, bias, seq_idx, initial_states)
    ctx.return_final_states = return_final_states
    ctx.silu = silu


def _fwd_backward(
    ctx: Any, dout: torch.Tensor | None, dfinal_states: torch.Tensor | None
) -> tuple[torch.Tensor | None, ...]:
    x, weight, bias, seq_idx, initial_states = ctx.saved_tensors
    dout = torch.zeros_like(x) if dout is None else in_layout_of(dout, x)
    if not ctx.return_final_states or dfinal_states is None:
        dfinal_states = None
    else:
        dfinal_states = either_layout(dfinal_states)
    want_dinit = initial_states is not None and ctx.needs_input_grad[4]
    dx, dweight, dbias, dinit = ops.bwd(
        x,
        weight,
        bias,
        dout,
        seq_idx,
        initial_states,
        dfinal_states,
        want_dinit,
        ctx.silu,
        deterministic_backward(),
    )
    return (
        dx,
        dweight,
        dbias if bias is not None else None,
        None,
        dinit if want_dinit else None,
        None,
        None,
    )


torch.library.register_autograd(
    "causal_conv1d::fwd", _fwd_backward, setup_context=_fwd_setup_context
)


# update is a decoding step with no backward, like upstream's. Without an
# Autograd kernel torch's fallback would give its output a grad_fn that warns
# and drops gradients on backward, and would leave conv_state's version alone.
# This kernel returns a plain tensor (requires_grad=False, as upstream's) and
# bumps conv_state's version, so autograd still catches a state that was saved
# for backward and then overwritten.
_autograd_lib = torch.library.Library("causal_conv1d", "IMPL")


def _update_autograd(
    keyset: torch._C.DispatchKeySet,
    x: torch.Tensor,
    conv_state: torch.Tensor,
    *args: Any,
) -> torch.Tensor:
    with torch._C._AutoDispatchBelowAutograd():
        out = ops.update.default.redispatch(
            keyset & torch._C._after_autograd_keyset, x, conv_state, *args
        )
    torch.autograd.graph.increment_version(conv_state)
    return out


_autograd_lib.impl("update", _update_autograd, "Autograd", with_keyset=True)
