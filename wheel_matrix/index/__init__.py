"""The published index: a static PEP 503/691 simple repository, one channel per compute platform.

``build_index`` turns a folder of finished wheels into ``dist/index/<channel>/``;
the other modules serve, verify and publish that tree.
"""

from wheel_matrix.index.store import IndexReport, build_index

__all__ = ["IndexReport", "build_index"]
