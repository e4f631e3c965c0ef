"""Hugging Face transformers' Mamba and Mamba-2 on the built wheel, against their PyTorch path.

transformers (5.x) binds ``causal_conv1d_fn`` / ``causal_conv1d_update`` from
an importable ``causal_conv1d`` package when a modelling module is imported,
on any device (``use_kernel_func_from_hub_with_fallback`` in
transformers/integrations/hub_kernels.py), and otherwise uses its own
F.conv1d code. The same tiny random-init models run twice on CPU, once with
the wheel installed and once with ``causal_conv1d`` hidden, and must agree:
eval logits, greedy generation with the cache (prefill through
causal_conv1d_fn, decoding through causal_conv1d_update), and a training
step's loss and gradients.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.e2e

# A test dependency: if it is missing the set-up is broken, which must fail, not skip.
import transformers  # noqa: E402, F401

# argv: "kernels" or "torch", the output file, and (for "kernels") the wheel's install dir.
RUN_MODELS = textwrap.dedent("""
    import functools, json, sys
    mode, out_path = sys.argv[1], sys.argv[2]
    calls = {"fn": 0, "update": 0}
    if mode == "kernels":
        site = sys.argv[3]
        import causal_conv1d
        assert causal_conv1d.__file__.startswith(site), causal_conv1d.__file__

        def counted(name, fn):
            @functools.wraps(fn)  # transformers reads the signature to filter kwargs
            def wrapper(*args, **kwargs):
                calls[name] += 1
                return fn(*args, **kwargs)
            return wrapper

        # Before transformers imports them, so its modelling modules bind these.
        causal_conv1d.causal_conv1d_fn = counted("fn", causal_conv1d.causal_conv1d_fn)
        causal_conv1d.causal_conv1d_update = counted("update", causal_conv1d.causal_conv1d_update)
    else:
        sys.modules["causal_conv1d"] = None  # ImportError: transformers' own conv path

    import torch
    from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM

    def tiny(name):
        torch.manual_seed(0)
        if name == "mamba":
            cfg = MambaConfig(vocab_size=96, hidden_size=32, state_size=8, num_hidden_layers=2,
                              conv_kernel=4, expand=2)
            return MambaForCausalLM(cfg)
        cfg = Mamba2Config(vocab_size=96, hidden_size=32, state_size=8, num_heads=4, head_dim=16,
                           n_groups=1, num_hidden_layers=2, conv_kernel=3, expand=2, chunk_size=8)
        return Mamba2ForCausalLM(cfg)

    results = {}
    for name in ("mamba", "mamba2"):
        model = tiny(name).eval()
        ids = torch.randint(0, 96, (2, 11), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            logits = model(ids).logits
            gen = model.generate(ids, max_new_tokens=6, min_new_tokens=6, do_sample=False,
                                 output_logits=True, return_dict_in_generate=True)
        model.train()
        loss = model(ids, labels=ids).loss
        loss.backward()
        grads = {n: p.grad.tolist() for n, p in model.named_parameters() if p.grad is not None}
        results[name] = {
            "logits": logits.tolist(),
            "sequences": gen.sequences.tolist(),
            "step_logits": [s.tolist() for s in gen.logits],
            "loss": loss.item(),
            "grads": grads,
        }
    results["calls"] = calls
    with open(out_path, "w") as f:
        json.dump(results, f)
""")


def _run(python: str, *args: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [python, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr[-4000:]}"


def _close(got: object, want: object, what: str) -> None:
    torch.testing.assert_close(
        torch.tensor(got, dtype=torch.float64),
        torch.tensor(want, dtype=torch.float64),
        rtol=1e-4,
        atol=1e-5,
        msg=lambda m: f"{what}: {m}",
    )


@pytest.fixture(scope="module")
def model_runs(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("transformers")
    site = work / "site"
    # The wheel alone; torch and transformers come from this environment.
    _run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        str(site),
        str(built_wheel),
        cwd=work,
        env=dict(os.environ),
    )
    script = work / "run_models.py"
    script.write_text(RUN_MODELS)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TRANSFORMERS_VERBOSITY": "error"}
    runs = {}
    for mode in ("kernels", "torch"):
        out = work / f"{mode}.json"
        extra = [str(site)] if mode == "kernels" else []
        mode_env = {**env, "PYTHONPATH": str(site)} if mode == "kernels" else env
        # Run outside the repository so its causal_conv1d/ source tree is never imported.
        _run(sys.executable, str(script), mode, str(out), *extra, cwd=work, env=mode_env)
        runs[mode] = json.loads(out.read_text())
    return runs


def test_transformers_calls_our_kernels(model_runs: dict[str, dict]) -> None:
    # Two models x two layers: eval, prefill and train forwards, then decode steps.
    assert model_runs["kernels"]["calls"]["fn"] >= 2 * 2 * 3
    assert model_runs["kernels"]["calls"]["update"] >= 2 * 2 * 5


@pytest.mark.parametrize("model", ["mamba", "mamba2"])
def test_model_matches_pytorch_path(model_runs: dict[str, dict], model: str) -> None:
    ours, ref = model_runs["kernels"][model], model_runs["torch"][model]
    _close(ours["logits"], ref["logits"], f"{model} eval logits")
    assert ours["sequences"] == ref["sequences"], f"{model}: greedy generations differ"
    _close(ours["step_logits"], ref["step_logits"], f"{model} generation logits")
    _close(ours["loss"], ref["loss"], f"{model} training loss")
    assert ours["grads"].keys() == ref["grads"].keys()
    for name, grad in ours["grads"].items():
        _close(grad, ref["grads"][name], f"{model} grad of {name}")
