"""CUDA 13 from PyPI: the provisioned folder works as CUDA_HOME for a real compile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wheel_matrix.backends import toolchain
from wheel_matrix.configuration import matrix_file
from wheel_matrix.errors import UserError

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

KERNEL = """
#include <cuda_runtime.h>
__global__ void scale(float* x, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}
int launch(float* x, int n) {
  scale<<<(n + 255) / 256, 256>>>(x, 2.f, n);
  return cudaGetLastError();
}
"""


def test_pypi_toolkit_compiles_and_links(tmp_path: Path) -> None:
    cuda = matrix_file.load(ROOT / "matrix.yaml").cuda["13.0"]
    kit = toolchain.provision_pypi_toolkit(cuda, tmp_path / "cache")
    assert kit.source == "pypi"
    assert toolchain.nvcc_version(kit.nvcc) == "13.0"
    # A second call reuses the folder instead of installing again.
    assert toolchain.provision_pypi_toolkit(cuda, tmp_path / "cache") == kit
    assert (kit.home / "include" / "cuda_runtime.h").is_file()
    assert (kit.home / "lib" / "libcudart.so").exists()
    source = tmp_path / "scale.cu"
    source.write_text(KERNEL)
    lib = tmp_path / "libscale.so"
    subprocess.run(
        [
            str(kit.nvcc),
            "-shared",
            "-Xcompiler",
            "-fPIC",
            "-arch=sm_90",
            "-o",
            str(lib),
            str(source),
            f"-L{kit.home / 'lib'}",
            "-lcudart",
        ],
        check=True,
        capture_output=True,
        env={**kit.env(), "HOME": str(tmp_path)},
    )
    needed = subprocess.run(
        ["readelf", "-d", str(lib)], capture_output=True, text=True, check=True
    ).stdout
    assert "libcudart.so.13" in needed


def test_resolve_refuses_cuda_without_a_compiler(tmp_path: Path) -> None:
    cuda = matrix_file.load(ROOT / "matrix.yaml").cuda["12.6"]
    if "12.6" in toolchain.system_toolkits():
        pytest.skip("this machine has a CUDA 12.6 toolkit")
    with pytest.raises(UserError, match=r"CUDA 12\.6 needs a system toolkit"):
        toolchain.resolve(cuda, tmp_path, "auto")
