"""The landing page at the index root: every channel, project and version, plus a picker.

The page is static (it must work on GitHub Pages and S3): the data it needs
is embedded as JSON, and a small script turns a torch + CUDA choice into the
install lines from ``instructions.TEMPLATES``. ``channels.json`` beside it
holds the same data so that a publish updates it without reading every page.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from wheel_matrix.errors import UserError
from wheel_matrix.index.instructions import PROJECT, TEMPLATES

DATA_FILE = "channels.json"

# channel -> project -> [{"version": "1.7.0+cu130torch2.14", "yanked": false}, ...]
LandingData = dict[str, dict[str, list[dict[str, Any]]]]


def load_data(root: Path) -> LandingData:
    path = root / DATA_FILE
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text())
        channels: LandingData = doc["channels"]
        return channels
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a landing data file: {exc}") from exc


def data_json(data: LandingData) -> bytes:
    return (json.dumps({"channels": data}, indent=1, sort_keys=True) + "\n").encode()


def _compute_title(channel: str) -> str:
    if channel == "cpu":
        return "CPU only"
    digits = channel[2:]
    return f"CUDA {digits[:-1]}.{digits[-1]}"


def _script_json(value: object) -> str:
    # Inside <script>, "</" would end the element; \u003c is the same string in JSON.
    return json.dumps(value, sort_keys=True).replace("<", "\\u003c")


_SCRIPT = """
const DATA = JSON.parse(document.getElementById("index-data").textContent);
const $ = (id) => document.getElementById(id);
const torchOf = (v) => (v.match(/torch(\\d+\\.\\d+)$/) || [])[1];
const cmpMinor = (a, b) => {
  const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)];
  return x[0] - y[0] || x[1] - y[1];
};
const base = DATA.base_url || new URL(".", document.baseURI).href;
function fill(tpl, values) {
  return tpl.replace(/\\{\\{|\\}\\}|\\{(\\w+)\\}/g,
    (m, k) => (m === "{{" ? "{" : m === "}}" ? "}" : values[k]));
}
function channelsFor(torch) {
  return Object.keys(DATA.channels).filter((c) =>
    (DATA.channels[c][DATA.project] || []).some((e) => !e.yanked && torchOf(e.version) === torch));
}
function render() {
  const torch = $("torch").value, channel = $("compute").value;
  const url = base.replace(/\\/+$/, "") + "/" + channel + "/";
  const values = {url, channel, project: DATA.project,
    torch_req: ` "torch==${torch}.*"`, torch_dep: `, "torch==${torch}.*"`};
  const versions = (DATA.channels[channel][DATA.project] || [])
    .filter((e) => !e.yanked && torchOf(e.version) === torch).map((e) => e.version);
  $("out-version").textContent = versions.length ? versions[versions.length - 1] : "";
  $("out-url").textContent = url;
  for (const key of ["pip", "uv", "pyproject", "poetry"]) {
    $("out-" + key).textContent = fill(DATA.templates[key], values);
  }
}
function pickTorch() {
  const select = $("compute"), before = select.value;
  select.replaceChildren();
  for (const c of channelsFor($("torch").value)) {
    select.add(new Option(DATA.titles[c], c, false, c === before));
  }
  render();
}
const torches = [...new Set(Object.values(DATA.channels).flatMap((projects) =>
  (projects[DATA.project] || []).filter((e) => !e.yanked).map((e) => torchOf(e.version))))]
  .filter(Boolean).sort(cmpMinor).reverse();
if (torches.length) {
  for (const t of torches) $("torch").add(new Option("torch " + t, t));
  $("torch").addEventListener("change", pickTorch);
  $("compute").addEventListener("change", render);
  $("picker").hidden = false;
  pickTorch();
}
"""

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
pre { background: #f4f4f4; padding: .6rem; overflow-x: auto; }
table { border-collapse: collapse; } td, th { padding: .2rem .6rem; text-align: left; }
"""


def landing_html(data: LandingData, base_url: str | None = None) -> bytes:
    embedded = {
        "channels": data,
        "templates": TEMPLATES,
        "project": PROJECT,
        "base_url": base_url,
        "titles": {c: _compute_title(c) for c in data},
    }
    rows = []
    for channel in sorted(data):
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
        f'<h3>{title}</h3>\n<pre id="out-{key}"></pre>'
        for key, title in (
            ("pip", "pip"),
            ("uv", "uv pip"),
            ("pyproject", "uv project (pyproject.toml)"),
            ("poetry", "Poetry"),
        )
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{PROJECT} wheels</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{PROJECT} wheels</h1>
<p>One package index per compute platform. Each channel URL is a simple repository
(PEP 503 / PEP 691): pass it to your installer as an extra index.</p>
<section id="picker" hidden>
<h2>Install</h2>
<label>torch <select id="torch"></select></label>
<label>compute platform <select id="compute"></select></label>
<p>Channel: <code id="out-url"></code> &mdash; newest build: <code id="out-version"></code></p>
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
