"""The install lines users copy: one source for the CLI, which-index and the landing page.

The landing page's picker builds the same lines in JavaScript from the
templates below (embedded in the page), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "causal-conv1d"

# {url}: channel URL, {channel}: e.g. cu130, {torch}: e.g. 2.14 ("" when not chosen).
TEMPLATES = {
    "pip": "pip install --extra-index-url {url} --only-binary={project} {project}{torch_req}",
    "uv": "uv pip install --extra-index-url {url} {project}{torch_req}",
    "pyproject": (
        "[project]\n"
        'dependencies = ["{project}"{torch_dep}]\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "{project}-{channel}"\n'
        'url = "{url}"\n'
        "explicit = true\n"
        "\n"
        "[tool.uv.sources]\n"
        '{project} = {{ index = "{project}-{channel}" }}'
    ),
    "poetry": (
        "poetry source add --priority=explicit {project}-{channel} {url}\n"
        "poetry add --source {project}-{channel} {project}"
    ),
}


@dataclass(frozen=True)
class Instructions:
    url: str
    pip: str
    uv: str
    pyproject: str
    poetry: str


def channel_url(base_url: str, channel: str) -> str:
    return f"{base_url.rstrip('/')}/{channel}/"


def instructions(base_url: str, channel: str, torch: str = "") -> Instructions:
    """The lines for one channel; with ``torch`` they also pin that torch minor."""
    url = channel_url(base_url, channel)
    values = {
        "url": url,
        "channel": channel,
        "project": PROJECT,
        "torch_req": f' "torch=={torch}.*"' if torch else "",
        "torch_dep": f', "torch=={torch}.*"' if torch else "",
    }
    lines = {key: text.format(**values) for key, text in TEMPLATES.items()}
    return Instructions(url=url, **lines)
