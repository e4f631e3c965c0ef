"""Install recipes: one source for the README, the landing page, `index` and `which-index`.

A recipe is a short list of steps (commands to run, lines for a file) for one
client and one channel. Each holds the guards that keep a client on our
wheels: pip's ``--only-binary`` (else it falls back to upstream's sdist on
PyPI, which cannot build), a torch pin (else pip and uv silently move torch
to the minor the channel was built for), an explicit index with a source
(uv, Poetry, PDM's ``include_packages``: else any index may answer), PDM's
exact local version (it otherwise drops the label and installs any build),
and a platform marker (the wheels are Linux only; a universal lock must not
look for them elsewhere).

Two families: the ``pypi`` channel, for torch from PyPI, needs nothing else;
a compute channel (``cu126``, ``cpu``) also takes torch from PyTorch's own
index for that platform. The landing page fills the same templates in
JavaScript (they are embedded in it), so the page and the CLI cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PYPI_CHANNEL = "pypi"

# Step kinds: "run" a command; "append" lines to a file; "write" a new file.
Step = tuple[str, str, str]  # (kind, file or "", template)

KINDS = (
    ("pip", "pip"),
    ("uv_pip", "uv pip"),
    ("uv_project", "uv project"),
    ("poetry", "Poetry"),
    ("pdm", "PDM"),
    ("pip_tools", "pip-tools"),
)

_UV_INDEX = '[[tool.uv.index]]\nname = "{project}"\nurl = "{url}"\nexplicit = true\n'
_UV_TORCH_INDEX = '[[tool.uv.index]]\nname = "{torch_name}"\nurl = "{torch_url}"\nexplicit = true\n'
_PDM_SOURCE = (
    '[[tool.pdm.source]]\nname = "{project}"\nurl = "{url}"\n'
    'include_packages = ["{project}"]\nexclude_packages = ["*"]\n'
)
_PDM_TORCH_SOURCE = (
    '[[tool.pdm.source]]\nname = "{torch_name}"\nurl = "{torch_url}"\n'
    'include_packages = ["torch"]\nexclude_packages = ["*"]\n'
)
_TORCH_MARKER = "sys_platform == 'linux' or sys_platform == 'win32'"

# {url}: the channel URL; {torch}: the torch minor; {version}: the newest build for it;
# {marker}: where the channel has wheels; {torch_url}/{torch_name}: PyTorch's index.
TEMPLATES: dict[str, dict[str, list[Step]]] = {
    "pypi": {
        "pip": [
            ("run", "", 'pip install --extra-index-url {url} --only-binary={project} {project} '
                        '"torch=={torch}.*"'),
        ],
        "uv_pip": [
            ("run", "", 'uv pip install --extra-index-url {url} {project} "torch=={torch}.*"'),
        ],
        "uv_project": [
            ("append", "pyproject.toml",
             _UV_INDEX + '\n[tool.uv.sources]\n{project} = {{ index = "{project}" }}\n'),
            ("run", "", 'uv add "torch=={torch}.*" "{project}; {marker}"'),
        ],
        "poetry": [
            ("run", "", "poetry source add --priority=explicit {project} {url}"),
            ("run", "", 'poetry add "torch=={torch}.*"'),
            ("run", "", 'poetry add --source {project} --markers "{marker}" {project}'),
        ],
        "pdm": [
            ("append", "pyproject.toml", _PDM_SOURCE),
            ("run", "", 'pdm add "torch=={torch}.*" "{project}=={version}; {marker}"'),
        ],
        "pip_tools": [
            ("write", "requirements.in",
             "--extra-index-url {url}\n--only-binary {project}\ntorch=={torch}.*\n"
             "{project}; {marker}\n"),
            ("run", "", "pip-compile requirements.in"),
        ],
    },
    "pytorch": {
        "pip": [
            ("run", "", "pip install --extra-index-url {url} --extra-index-url {torch_url} "
                        '--only-binary={project} {project} "torch=={torch}.*"'),
        ],
        "uv_pip": [
            ("run", "", "uv pip install --extra-index-url {url} --extra-index-url {torch_url} "
                        '{project} "torch=={torch}.*"'),
        ],
        "uv_project": [
            ("append", "pyproject.toml",
             _UV_INDEX + "\n" + _UV_TORCH_INDEX + '\n[tool.uv.sources]\n'
             '{project} = {{ index = "{project}" }}\n'
             'torch = [{{ index = "{torch_name}", marker = "' + _TORCH_MARKER + '" }}]\n'),
            ("run", "", 'uv add "torch=={torch}.*" "{project}; {marker}"'),
        ],
        "poetry": [
            ("run", "", "poetry source add --priority=explicit {project} {url}"),
            ("run", "", "poetry source add --priority=explicit {torch_name} {torch_url}"),
            ("run", "", 'poetry add --source {torch_name} "torch=={torch}.*"'),
            ("run", "", 'poetry add --source {project} --markers "{marker}" {project}'),
        ],
        "pdm": [
            ("append", "pyproject.toml", _PDM_SOURCE + "\n" + _PDM_TORCH_SOURCE),
            ("run", "", 'pdm add "torch=={torch}.*" "{project}=={version}; {marker}"'),
        ],
        "pip_tools": [
            ("write", "requirements.in",
             "--extra-index-url {url}\n--extra-index-url {torch_url}\n--only-binary {project}\n"
             "torch=={torch}.*\n{project}; {marker}\n"),
            ("run", "", "pip-compile requirements.in"),
        ],
    },
}


def family(channel: str) -> str:
    return "pypi" if channel == PYPI_CHANNEL else "pytorch"


def marker(arches: Iterable[str]) -> str:
    """Where a build has wheels: Linux, and one machine when only one has them."""
    found = sorted(set(arches))
    if len(found) == 1:
        return f"sys_platform == 'linux' and platform_machine == '{found[0]}'"
    return "sys_platform == 'linux'"


def channel_url(base_url: str, channel: str) -> str:
    return f"{base_url.rstrip('/')}/{channel}/"


@dataclass(frozen=True)
class Recipe:
    kind: str  # "pip", "uv_pip", ...
    title: str
    steps: tuple[Step, ...]  # filled in

    @property
    def text(self) -> str:
        """How people read it: commands as they are, file lines under a comment."""
        parts = []
        for kind, path, text in self.steps:
            if kind == "run":
                parts.append(text)
            else:
                verb = "add to" if kind == "append" else "write"
                parts.append(f"# {verb} {path}:\n{text.rstrip()}")
        return "\n\n".join(parts) if any(k != "run" for k, _, _ in self.steps) else "\n".join(
            parts
        )


@dataclass(frozen=True)
class Recipes:
    channel: str
    url: str
    torch: str
    version: str
    items: tuple[Recipe, ...]

    def __getitem__(self, kind: str) -> Recipe:
        return next(r for r in self.items if r.kind == kind)


def recipes(
    base_url: str,
    channel: str,
    torch: str,
    version: str,
    arches: Iterable[str],
    torch_index: str,
    project: str,
) -> Recipes:
    """Every client's recipe for installing ``version`` (for torch ``torch``) from ``channel``."""
    url = channel_url(base_url, channel)
    values = {
        "url": url,
        "project": project,
        "torch": torch,
        "version": version,
        "marker": marker(arches),
        "torch_url": torch_index.format(compute=channel),
        "torch_name": f"pytorch-{channel}",
    }
    templates = TEMPLATES[family(channel)]
    items = tuple(
        Recipe(kind, title, tuple((k, p, t.format(**values)) for k, p, t in templates[kind]))
        for kind, title in KINDS
    )
    return Recipes(channel, url, torch, version, items)
