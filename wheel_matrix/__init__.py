"""wheel_matrix: build causal-conv1d wheels for a torch x CUDA x Python matrix, publish them."""

__all__ = ["__version__"]
__version__ = "0.1.0"
