"""The landing page at the index root: every channel, project and version, plus a picker.

The page is static (it must work on GitHub Pages and S3): the data it needs
is embedded as JSON, recipes included (from ``recipes``, filled in for every
channel and torch minor), and a small script shows those of the torch and
channel chosen. ``channels.json`` beside it
holds the same data so that a publish updates it without reading every page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename
from packaging.version import Version

from wheel_matrix.configuration.values import url_template_problem
from wheel_matrix.errors import UserError, shorten
from wheel_matrix.plan.label import label_of_version
from wheel_matrix.plan.recipes import KINDS, PYPI_CHANNEL, Recipes, recipes

DATA_FILE = "channels.json"
# PYPI_CHANNEL is the channel for torch from PyPI: for each torch minor, the build
# for the CUDA version of PyPI's own torch wheel, so one URL keeps fitting as users
# upgrade torch.

# channel -> project -> [{"version": "1.7.0+cu130torch2.14", "yanked": false}, ...]
LandingData = dict[str, dict[str, list[dict[str, Any]]]]


DEFAULT_TORCH_INDEX = "https://download.pytorch.org/whl/{compute}"


@dataclass(frozen=True)
class IndexData:
    """What channels.json holds: the channels' versions, and what the recipes need."""

    channels: LandingData = field(default_factory=dict)
    pypi: dict[str, str] = field(default_factory=dict)  # torch minor -> compute channel
    torch_index: str = DEFAULT_TORCH_INDEX  # PyTorch's index for a compute platform
    project: str = ""  # the package the index is for (recipes, which-index, verify)


# What channels.json may name: channels as this service makes them (never "../x"),
# projects as PEP 508 names them, torch minors; its text reaches pages and recipes.
CHANNEL = re.compile(r"cpu|cu\d{3,4}|" + PYPI_CHANNEL, re.ASCII)
_PROJECT = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
_MINOR = re.compile(r"\d{1,4}\.\d{1,4}", re.ASCII)
_ARCH = re.compile(r"x86_64|aarch64", re.ASCII)


def _check_data(doc: object) -> IndexData:
    """channels.json's document as IndexData; a TypeError or ValueError says what is wrong."""
    if not isinstance(doc, dict):
        raise TypeError("the top level is not an object")
    channels, pypi = doc["channels"], doc.get("pypi", {})
    torch_index, project = doc.get("torch_index", DEFAULT_TORCH_INDEX), doc.get("project")
    if not isinstance(channels, dict) or not isinstance(pypi, dict):
        raise TypeError("channels and pypi must be objects")
    if not isinstance(torch_index, str):
        raise TypeError("torch_index must be a string")
    if torch_index and url_template_problem(torch_index):
        raise ValueError(f"torch_index: {url_template_problem(torch_index)}")
    for channel, projects in channels.items():
        if not CHANNEL.fullmatch(channel) or not isinstance(projects, dict):
            raise ValueError(f"channel {shorten(channel)} is not a channel name with projects")
        for name, entries in projects.items():
            if not _PROJECT.fullmatch(name) or not isinstance(entries, list):
                raise ValueError(f"{channel}: {shorten(name)} is not a project with a list")
            for entry in entries:
                _check_entry(entry, f"{channel}/{name}")
    for minor, channel in pypi.items():
        if not (_MINOR.fullmatch(minor) and isinstance(channel, str)
                and CHANNEL.fullmatch(channel)):
            raise ValueError(f"pypi: {shorten(minor)}: {shorten(channel)} is not a channel")
    if project not in (None, "") and not (isinstance(project, str) and _PROJECT.fullmatch(project)):
        raise ValueError(f"project {shorten(project)} is not a project name")
    return IndexData(channels, dict(pypi), torch_index, project or _only_project(channels))


def _check_entry(entry: object, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("version"), str):
        raise ValueError(f"{where}: {shorten(entry)} is not a version entry")
    label_of_version(entry["version"])  # a UserError names a version without a label
    if not isinstance(entry.get("yanked"), bool):
        raise ValueError(f"{where}: {entry['version']}: 'yanked' is not true or false")
    arches = entry.get("arches", [])
    if not isinstance(arches, list) or not all(
        isinstance(a, str) and _ARCH.fullmatch(a) for a in arches
    ):
        raise ValueError(f"{where}: {entry['version']}: 'arches' is not a list of machines")


def parse_data(raw: bytes, where: str) -> IndexData:
    try:
        return _check_data(json.loads(raw))
    except RecursionError:
        raise UserError(f"{where}: not a channels.json file: nested too deeply") from None
    except (ValueError, KeyError, TypeError, AttributeError, UserError) as exc:
        reason = shorten(str(exc), 200, quote=False)
        raise UserError(f"{where}: not a channels.json file: {reason}") from None


def machines(filename: str) -> set[str]:
    """The CPU architectures a wheel's platform tags name (x86_64, aarch64)."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except ValueError:  # InvalidWheelFilename, InvalidVersion, a number too long
        return set()
    found = set()
    for tag in tags:
        for arch in ("x86_64", "aarch64"):
            if tag.platform.endswith(arch):
                found.add(arch)
    return found


def newest_builds(index: IndexData, channel: str) -> dict[str, dict[str, Any]]:
    """Torch minor -> the newest live build of the project in ``channel`` for it."""
    found: dict[str, dict[str, Any]] = {}
    for entry in index.channels.get(channel, {}).get(index.project, []):
        if entry["yanked"]:
            continue
        torch = label_of_version(entry["version"]).torch
        if torch not in found or Version(entry["version"]) > Version(found[torch]["version"]):
            found[torch] = entry
    return found


def channel_recipes(index: IndexData, channel: str, base_url: str) -> dict[str, Recipes]:
    """Torch minor -> every client's recipe for the newest build in ``channel``."""
    return {
        torch: recipes(
            base_url,
            channel,
            torch,
            entry["version"],
            entry.get("arches", []),
            index.torch_index,
            index.project,
        )
        for torch, entry in newest_builds(index, channel).items()
    }


def _only_project(channels: LandingData) -> str:
    names = {p for projects in channels.values() for p in projects}
    return next(iter(names)) if len(names) == 1 else ""


def load_data(root: Path) -> IndexData:
    path = root / DATA_FILE
    if not path.is_file():
        return IndexData()
    return parse_data(path.read_bytes(), str(path))


def data_json(data: IndexData) -> bytes:
    doc = {
        "channels": data.channels,
        "pypi": data.pypi,
        "torch_index": data.torch_index,
        "project": data.project,
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _compute_title(channel: str) -> str:
    if channel == PYPI_CHANNEL:
        return "PyPI's torch (pip install torch)"
    if channel == "cpu":
        return "CPU only"
    digits = channel[2:]
    return f"CUDA {digits[:-1]}.{digits[-1]}"


def _channel_order(channels: list[str]) -> list[str]:
    """PyPI's torch first, then the newest CUDA, CPU last: the order the picker offers."""

    def key(channel: str) -> tuple[int, int]:
        if channel == PYPI_CHANNEL:
            return (1 << 30, 0)
        if not channel.startswith("cu"):
            return (-1, 0)
        digits = channel[2:]
        return (int(digits[:-1]), int(digits[-1]))

    return sorted(channels, key=key, reverse=True)


def _script_json(value: object) -> str:
    # Inside <script>, "</" would end the element; \u003c is the same string in JSON.
    return json.dumps(value, sort_keys=True).replace("<", "\\u003c")


_SCRIPT = """
const DATA = JSON.parse(document.getElementById("index-data").textContent);
const $ = (id) => document.getElementById(id);
// Recipes are filled in when the page is built; without a base URL they name
// this page's folder, which the browser knows.
const here = new URL(".", document.baseURI).href.replace(/\\/+$/, "");
const fix = (text) => text.split(DATA.placeholder).join(here);
const cmpMinor = (a, b) => {
  const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)];
  return x[0] - y[0] || x[1] - y[1];
};
function render() {
  const build = DATA.recipes[$("compute").value][$("torch").value];
  $("out-version").textContent = build.version;
  $("out-url").textContent = fix(build.url);
  for (const [kind] of DATA.kinds) $("out-" + kind).textContent = fix(build.recipes[kind]);
}
function pickTorch() {
  const select = $("compute"), before = select.value, torch = $("torch").value;
  select.replaceChildren();
  for (const c of DATA.order.filter((c) => torch in DATA.recipes[c])) {
    select.add(new Option(DATA.titles[c], c, false, c === before));
  }
  render();
}
async function copy(button) {
  const text = $(button.dataset.target).textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    // No clipboard (an insecure origin): select the text for Ctrl-C instead.
    getSelection().selectAllChildren($(button.dataset.target));
    button.textContent = "Selected";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}
const torches = [...new Set(DATA.order.flatMap((c) => Object.keys(DATA.recipes[c])))]
  .sort(cmpMinor).reverse();
if (torches.length) {
  for (const t of torches) $("torch").add(new Option("torch " + t, t));
  $("torch").addEventListener("change", pickTorch);
  $("compute").addEventListener("change", render);
  for (const b of document.querySelectorAll("button.copy")) {
    b.addEventListener("click", () => copy(b));
  }
  $("picker").hidden = false;
  pickTorch();
}
"""

_STYLE = """
:root { color-scheme: light dark; --muted: #6a6a6a; --code: #f3f4f6; --line: #d9dce1; }
@media (prefers-color-scheme: dark) {
  :root { --muted: #a0a0a0; --code: #24272c; --line: #3a3f46; }
}
body { font-family: system-ui, sans-serif; line-height: 1.45; max-width: 60rem;
  margin: 2rem auto; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h3 { margin: 1.2rem 0 .3rem; font-size: 1rem; }
.lead { color: var(--muted); margin-top: 0; }
.choose { display: flex; flex-wrap: wrap; gap: 1rem 2rem; align-items: end; margin: 1rem 0; }
.choose label { display: flex; flex-direction: column; gap: .25rem; font-weight: 600; }
select { font: inherit; padding: .35rem .5rem; min-width: 11rem; border-radius: 6px;
  border: 1px solid var(--line); }
.block { position: relative; }
pre { background: var(--code); border: 1px solid var(--line); border-radius: 6px;
  padding: .7rem 5rem .7rem .8rem; margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
button.copy { position: absolute; top: .4rem; right: .4rem; font: inherit; font-size: .8rem;
  padding: .15rem .6rem; border-radius: 5px; border: 1px solid var(--line); cursor: pointer;
  background: Canvas; color: CanvasText; }
table { border-collapse: collapse; width: 100%; }
td, th { padding: .3rem .6rem; text-align: left; border-bottom: 1px solid var(--line);
  vertical-align: top; }
td:not(:last-child), th { white-space: nowrap; }
"""


# Stands for the index's own URL in the page's recipes when no base URL is known.
_PLACEHOLDER = "@@INDEX@@"


def landing_html(index: IndexData, base_url: str | None = None) -> bytes:
    data = index.channels
    base = base_url or _PLACEHOLDER
    built = {}
    for channel in data:
        built[channel] = {
            torch: {
                "version": r.version,
                "url": r.url,
                "recipes": {item.kind: item.text for item in r.items},
            }
            for torch, r in channel_recipes(index, channel, base).items()
        }
    embedded = {
        "recipes": built,
        "kinds": KINDS,
        "placeholder": _PLACEHOLDER,
        "titles": {c: _compute_title(c) for c in data},
        "order": _channel_order(list(data)),
    }
    rows = []
    for channel in _channel_order(list(data)):
        for project, entries in sorted(data[channel].items()):
            live = [escape(e["version"]) for e in entries if not e["yanked"]]
            yanked = [escape(e["version"]) + " (yanked)" for e in entries if e["yanked"]]
            rows.append(
                f'<tr><td><a href="{escape(channel)}/">{escape(channel)}</a></td>'
                f"<td>{escape(_compute_title(channel))}</td>"
                f'<td><a href="{escape(channel)}/{escape(project)}/">{escape(project)}</a></td>'
                f"<td>{', '.join(live + yanked)}</td></tr>"
            )
    outputs = "\n".join(
        f'<h3>{title}</h3>\n<div class="block"><pre id="out-{key}"></pre>'
        f'<button type="button" class="copy" data-target="out-{key}">Copy</button></div>'
        for key, title in KINDS
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(index.project)} wheels</title>
<link rel="icon" href="data:,">
<style>{_STYLE}</style>
</head>
<body>
<h1>{escape(index.project)} wheels</h1>
<p class="lead">One package index per compute platform, and <code>pypi</code> for torch
from PyPI. Each channel URL is a simple repository (PEP 503 / PEP 691). Every recipe
keeps its client on these wheels: never on upstream's source release, which cannot
build without torch and nvcc.</p>
<noscript><p>The install picker needs JavaScript; the table below lists every channel.</p>
</noscript>
<section id="picker" hidden>
<h2>Install</h2>
<div class="choose">
<label for="torch">PyTorch <select id="torch"></select></label>
<label for="compute">Compute platform <select id="compute"></select></label>
</div>
<p>Channel <code id="out-url"></code> &middot; newest build <code id="out-version"></code></p>
{outputs}
</section>
<h2>Channels</h2>
<table id="channels">
<tr><th>channel</th><th>platform</th><th>project</th><th>versions</th></tr>
{chr(10).join(rows)}
</table>
<script type="application/json" id="index-data">{_script_json(embedded)}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""
    return page.encode()
