"""The plan: which cells exist, what each is called, and everything decided about building it.

``cells`` is the planner itself; ``label`` and ``recipes`` are the contracts it
shares with the index (how a build is named, how users install it);
what this machine can build is the backends' concern.
"""

from wheel_matrix.plan.cells import (
    Cell,
    cells,
    channel_torches,
    find_cell,
    pypi_channels,
    unsupported_reason,
)

__all__ = ["Cell", "cells", "channel_torches", "find_cell", "pypi_channels", "unsupported_reason"]
