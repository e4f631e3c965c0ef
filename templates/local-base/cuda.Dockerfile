# A stand-in for NVIDIA's CUDA devel image, made on this machine by `build --local-base`:
# nvcc and friends from PyPI's nvidia-* wheels, which unpack into a CUDA_HOME-shaped
# tree, moved to /usr/local/cuda-<version> as NVIDIA lays it out. Built with
# --network=host (pip reaches the package index from here).
ARG BASE
# hadolint ignore=DL3006
FROM ${BASE}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
ARG CUDA_VERSION
ARG CUDA_MAJOR
RUN /opt/python/cp312-cp312/bin/python -m pip install -q --no-cache-dir --no-deps --no-compile \
      --target /tmp/cuda "nvidia-cuda-nvcc==${CUDA_VERSION}.*" "nvidia-cuda-crt==${CUDA_VERSION}.*" \
      "nvidia-nvvm==${CUDA_VERSION}.*" "nvidia-cuda-runtime==${CUDA_VERSION}.*" \
      "nvidia-cuda-cccl==${CUDA_VERSION}.*" \
 && mv "/tmp/cuda/nvidia/cu${CUDA_MAJOR}" "/usr/local/cuda-${CUDA_VERSION}" \
 && rm -rf /tmp/cuda \
 && cd "/usr/local/cuda-${CUDA_VERSION}" \
 && ln -s "$(cd lib && ls libcudart.so.* | sed -n 1p)" lib/libcudart.so \
 && ln -s lib lib64 \
 && "/usr/local/cuda-${CUDA_VERSION}/bin/nvcc" --version
