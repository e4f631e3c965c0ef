"""A few CUDA calls covering every kernel path, small enough for compute-sanitizer.

Run as `compute-sanitizer --tool memcheck python scripts/sanitize_cases.py`:
odd sizes and both layouts are where out-of-bounds accesses hide.
"""

from __future__ import annotations

import sys

import torch

from causal_conv1d import causal_conv1d_fn, causal_conv1d_update


def main() -> None:
    dev = sys.argv[1] if len(sys.argv) > 1 else "cuda"
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        for dim, seqlen, width in ((13, 1, 2), (64, 33, 4), (40, 257, 3), (24, 2, 4)):
            for channel_last in (False, True):
                x = (
                    torch.randn(2, seqlen, dim, device=dev, dtype=dtype).transpose(1, 2)
                    if channel_last
                    else torch.randn(2, dim, seqlen, device=dev, dtype=dtype)
                )
                x.requires_grad_(True)
                w = torch.randn(dim, width, device=dev, dtype=dtype, requires_grad=True)
                b = torch.randn(dim, device=dev, dtype=dtype, requires_grad=True)
                init = torch.randn(2, dim, width - 1, device=dev, dtype=dtype, requires_grad=True)
                out, final = causal_conv1d_fn(
                    x, w, b, initial_states=init, return_final_states=True, activation="silu"
                )
                (out.float().sum() + final.float().sum()).backward()
                seq_idx = (torch.arange(seqlen, device=dev, dtype=torch.int32) // 5).expand(2, -1)
                out = causal_conv1d_fn(x, w, b, seq_idx=seq_idx.contiguous())
                out.float().sum().backward()
            state = torch.randn(3, dim, width + 1, device=dev, dtype=dtype)
            xs = torch.randn(2, dim, 2, device=dev, dtype=dtype)
            causal_conv1d_update(
                xs,
                state,
                w.detach(),
                b.detach(),
                "silu",
                cache_seqlens=torch.tensor([1, 7], device=dev, dtype=torch.int32),
                conv_state_indices=torch.tensor([2, -1], device=dev, dtype=torch.int32),
            )
    if dev == "cuda":
        torch.cuda.synchronize()
    print("sanitize cases: ok")


if __name__ == "__main__":
    main()
