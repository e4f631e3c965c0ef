"""``which-index``: the channel and install line that fit this machine's Python, torch and CUDA.

The compute platform comes from the installed torch (``torch.version.cuda``)
when there is one, otherwise from the NVIDIA driver's highest supported CUDA
(``nvidia-smi``), otherwise CPU. The torch minor must be one the channel has
a build for; the index's ``channels.json`` says which.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from wheel_matrix.errors import UserError
from wheel_matrix.index import landing
from wheel_matrix.plan.label import compute_tag, label_of_version
from wheel_matrix.plan.recipes import PYPI_CHANNEL, Recipes

_PROBE = """
import json, sys
from importlib import metadata
try:
    import torch
    found = {"torch": torch.__version__, "cuda": torch.version.cuda,
             "dist": metadata.version("torch")}
except (ImportError, metadata.PackageNotFoundError):
    found = {"torch": None, "cuda": None, "dist": None}
found["python"] = "%d.%d" % sys.version_info[:2]
print(json.dumps(found))
"""


@dataclass(frozen=True)
class LocalEnv:
    python: str  # "3.11"
    torch: str | None  # full torch version, e.g. "2.14.0+cu130"
    torch_cuda: str | None  # CUDA torch was built with, None for a CPU build
    driver_cuda: str | None  # highest CUDA the NVIDIA driver supports
    # The installed distribution's version: PyTorch's index labels its wheels
    # (2.15.0+cu126), PyPI's have none (though torch.__version__ may still say +cu132).
    torch_dist: str | None = None

    @property
    def torch_minor(self) -> str | None:
        if self.torch is None:
            return None
        match = re.match(r"(\d+)\.(\d+)", self.torch)
        return f"{match[1]}.{match[2]}" if match else None


@dataclass(frozen=True)
class Choice:
    channel: str
    version: str
    recipes: Recipes
    why: str


def inspect(python: str = sys.executable) -> LocalEnv:
    try:
        out = subprocess.run(
            [python, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot inspect {python}: {exc}") from exc
    found = json.loads(out.strip().splitlines()[-1])
    return LocalEnv(found["python"], found["torch"], found["cuda"], driver_cuda(), found["dist"])


def driver_cuda() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"CUDA Version:\s*(\d+\.\d+)", out)
    return match[1] if match else None


_MAX_CHANNELS_JSON = 64 << 20  # a channel list of every build ever is a few megabytes


def load_channels(index: str) -> landing.IndexData:
    if index.startswith(("http://", "https://")):
        url = index.rstrip("/") + "/" + landing.DATA_FILE
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                raw = response.read(_MAX_CHANNELS_JSON + 1)
        except (urllib.error.URLError, OSError) as exc:
            raise UserError(f"{url}: cannot read the index's channel list: {exc}") from exc
        if len(raw) > _MAX_CHANNELS_JSON:
            raise UserError(f"{url}: more than {_MAX_CHANNELS_JSON} bytes: not a channel list")
        return landing.parse_data(raw, url)
    data = landing.load_data(Path(index))
    if not data.channels:
        raise UserError(f"{index}: no index here (run `wheel-matrix index` first)")
    return data


def choose(env: LocalEnv, index: landing.IndexData, base_url: str) -> Choice:
    """The channel and newest build for ``env``; a UserError that says why if none fits."""
    builds: dict[str, list[str]] = {}  # channel -> unyanked versions for env's torch
    torches: set[str] = set()
    for channel, projects in index.channels.items():
        for entry in projects.get(index.project, []):
            if entry["yanked"]:
                continue
            label = label_of_version(entry["version"])
            torches.add(label.torch)
            if label.torch == env.torch_minor:
                builds.setdefault(channel, []).append(entry["version"])
    available = ", ".join(sorted(torches, key=lambda t: tuple(map(int, t.split("."))))) or "none"
    if env.torch_minor is None:
        raise UserError(
            f"torch is not installed for Python {env.python}: install torch first "
            f"(this index has builds for torch {available})"
        )
    if not builds:
        raise UserError(
            f"no {index.project} build for torch {env.torch_minor} in this index "
            f"(it has builds for torch {available})"
        )
    if env.torch_cuda is not None:
        channel = compute_tag(env.torch_cuda)
        why = f"torch {env.torch} was built with CUDA {env.torch_cuda}"
        if channel not in builds:
            raise UserError(
                f"no {index.project} build for torch {env.torch_minor} with CUDA {env.torch_cuda} "
                f"(channel {channel}); this torch has builds in: {', '.join(sorted(builds))}"
            )
    else:
        channel, why = "cpu", f"torch {env.torch} is a CPU build"
        if channel not in builds:
            raise UserError(
                f"no CPU build of {index.project} for torch {env.torch_minor}; "
                f"it has builds in: {', '.join(sorted(builds))}"
            )
    from_pypi = env.torch_dist is not None and Version(env.torch_dist).local is None
    if from_pypi and index.pypi.get(env.torch_minor) == channel and PYPI_CHANNEL in builds:
        # The pypi channel keeps fitting when that torch is upgraded from PyPI.
        channel, why = PYPI_CHANNEL, f"{why}, from PyPI"
    newest = max(builds[channel], key=Version)
    found = landing.channel_recipes(index, channel, base_url)[env.torch_minor]
    return Choice(channel, newest, found, why)
