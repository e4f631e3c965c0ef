"""The index commands: index, serve, yank, unyank, verify, publish, which-index."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from wheel_matrix import log

if TYPE_CHECKING:
    from wheel_matrix.index.verify import Expected
    from wheel_matrix.plan.recipes import Recipes

DEFAULT_WHEELS = Path("dist/wheels")
DEFAULT_ROOT = Path("dist/index")
DEFAULT_BASE_URL = "http://127.0.0.1:8000/"


def print_recipes(recipes: Recipes) -> None:
    """Every client's recipe (stdout, to copy), headed by what it installs."""
    print(f"# {recipes.version} from {recipes.url} (torch {recipes.torch})")
    for recipe in recipes.items:
        print(f"\n## {recipe.title}\n{recipe.text}")
    print()


def _cmd_index(args: argparse.Namespace) -> int:
    from wheel_matrix import plan
    from wheel_matrix.configuration import matrix_file
    from wheel_matrix.index import landing
    from wheel_matrix.index.store import PlanFacts, build_index, wheels_in
    from wheel_matrix.plan.recipes import PYPI_CHANNEL

    matrix = matrix_file.load(args.matrix)
    told = PlanFacts(
        project=matrix.project.name,
        pypi=plan.pypi_channels(matrix),
        torch_index=matrix.torch_index,
        channels=tuple(plan.channel_torches(plan.cells(matrix))),
    )
    with log.step(f"index {args.wheels} -> {args.out}"):
        report = build_index(wheels_in(args.wheels), args.out, base_url=args.base_url, told=told)
    rows = [[c.channel, ", ".join(c.projects), str(c.versions)] for c in report.channels]
    if rows:
        log.info(log.table(["channel", "projects", "versions"], rows, title="Index"))
    log.info(
        f"{len(report.added)} wheel(s) added, {len(report.unchanged)} already published, "
        f"{len(report.pages_written)} page(s) written"
    )
    # The recipes of the newest build of each channel this run added to.
    data = landing.load_data(args.out)
    touched = sorted({path.split("/", 1)[0] for path in report.added} | (
        {PYPI_CHANNEL} if report.added and PYPI_CHANNEL in data.channels else set()
    ))
    for channel in touched:
        builds = landing.channel_recipes(data, channel, args.base_url)
        if builds:
            print_recipes(builds[max(builds, key=lambda t: tuple(map(int, t.split("."))))])
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from wheel_matrix.errors import UserError
    from wheel_matrix.index.serve import base_url, make_server

    if not (args.root / "index.html").is_file():
        raise UserError(f"{args.root}: no index here (run `wheel-matrix index` first)")
    try:
        server = make_server(args.root, args.host, args.port)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    log.info(f"serving {args.root} at {base_url(server)} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _cmd_yank(args: argparse.Namespace) -> int:
    from wheel_matrix.index.store import set_yanked

    reason = None if args.command == "unyank" else (args.reason or "")
    report = set_yanked(
        args.root, args.version, project=args.project, reason=reason, base_url=args.base_url
    )
    verb = "unyanked" if reason is None else "yanked"
    for relpath in report.files:
        log.info(f"{verb} {relpath}")
    if not report.files:
        log.info(f"nothing to do: {args.version} is already {verb}")
    return 0


def _expected(args: argparse.Namespace) -> Expected | None:
    """Which torch minors each channel must resolve: the wheels named, else matrix.yaml's."""
    from wheel_matrix.index.store import read_wheels, wheels_in
    from wheel_matrix.index.verify import Expected

    if args.resolve_wheels is not None:
        found: dict[str, set[str]] = {}
        for info in read_wheels(wheels_in(args.resolve_wheels)):
            found.setdefault(info.channel, set()).add(info.label.torch)
        source = f"{args.resolve_wheels} holds"
        return Expected({c: sorted(t) for c, t in found.items()}, source)
    if not args.resolve or args.torch:
        return None
    from wheel_matrix import plan
    from wheel_matrix.configuration import matrix_file

    matrix = matrix_file.load(args.matrix)
    return Expected(plan.channel_torches(plan.cells(matrix)), f"{matrix.source.name} builds")


def _cmd_verify(args: argparse.Namespace) -> int:
    from wheel_matrix.index.verify import verify_index

    expected = _expected(args)
    resolve = args.resolve or args.resolve_wheels is not None
    with log.step(f"verify {args.target}"):
        report = verify_index(
            args.target,
            args.channel or None,
            resolve=resolve,
            torches=args.torch or None,
            expected=expected,
        )
    for note in report.notes:
        log.warn(note)
    for fault in report.faults:
        log.error(str(fault))
    if report.faults:
        log.info(f"{len(report.faults)} fault(s) in {report.target}")
        return 1
    log.info(
        f"ok: {report.files} wheel(s) in {len(report.channels)} channel(s) "
        f"({', '.join(report.channels)})"
    )
    if resolve:
        by_channel: dict[str, list[str]] = {}
        for channel, torch in report.resolved:
            by_channel.setdefault(channel, []).append(torch)
        done = "; ".join(f"{c}: torch {', '.join(t)}" for c, t in by_channel.items())
        log.info(f"resolved by pip and uv: {done or 'nothing'}")
    return 0


def _cmd_pull(args: argparse.Namespace) -> int:
    from wheel_matrix.index import deploy


    with log.step(f"pull the pages of {args.source} -> {args.root}"):
        report = deploy.pull_s3(args.source, args.root, args.endpoint_url)
    log.info(f"{len(report.uploaded)} file(s) fetched, {report.unchanged} unchanged")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from wheel_matrix.errors import UserError
    from wheel_matrix.index import deploy
    from wheel_matrix.index.store import wheels_in

    dest: str = args.to
    if dest.startswith("twine:"):
        with log.step(f"twine upload to {dest[6:]}"):
            deploy.publish_twine(wheels_in(args.wheels), dest[6:])
        return 0
    if dest.startswith("pages:"):
        with log.step(f"publish {args.root} -> GitHub Pages tree {dest[6:]}"):
            report = deploy.publish_pages(args.root, Path(dest[6:]))
    elif dest.startswith("s3://"):
        with log.step(f"publish {args.root} -> {dest}"):
            report = deploy.publish_s3(args.root, dest, args.endpoint_url)
    else:
        raise UserError(
            f"unknown publish target {dest!r} (expected pages:DIR, s3://BUCKET[/PREFIX] "
            "or twine:REPOSITORY_URL)"
        )
    log.info(f"{len(report.uploaded)} file(s) written, {report.unchanged} unchanged")
    return 0


def _cmd_which(args: argparse.Namespace) -> int:
    from wheel_matrix.index import which

    env = which.inspect(args.python)
    driver = f", NVIDIA driver CUDA {env.driver_cuda}" if env.driver_cuda else ", no NVIDIA driver"
    log.info(f"Python {env.python}, torch {env.torch or 'not installed'}{driver}")
    served = args.base_url or DEFAULT_BASE_URL
    index = args.index or (str(args.root) if args.root.exists() else served)
    # Recipes name the index where it was read from, unless told where it is served.
    is_url = index.startswith(("http://", "https://"))
    base_url = args.base_url or (index if is_url else DEFAULT_BASE_URL)
    choice = which.choose(env, which.load_channels(index), base_url)
    log.info(f"{choice.why}: channel {choice.channel}, newest build {choice.version}")
    print_recipes(choice.recipes)
    return 0


def _root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help=f"index folder (default {DEFAULT_ROOT})"
    )


def _base_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"URL the index is reached at (default {DEFAULT_BASE_URL}, i.e. `serve`)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("index", help="(re)build the per-channel simple index from built wheels")
    p.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS, help="wheel store folder")
    p.add_argument("--out", type=Path, default=DEFAULT_ROOT, help="index folder")
    p.add_argument(
        "--matrix",
        type=Path,
        metavar="FILE",
        help="matrix.yaml that says which build is PyPI's torch's, for the pypi channel "
        "(default: $WHEEL_MATRIX_FILE, else the repository's)",
    )
    _base_url(p)
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("serve", help="serve the index on 127.0.0.1 (PEP 691 negotiation)")
    _root(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("verify", help="check an index folder or URL: hashes, metadata, labels")
    p.add_argument("target", nargs="?", default=str(DEFAULT_ROOT), help="folder or http(s) URL")
    p.add_argument("--channel", action="append", help="only this channel (repeatable)")
    p.add_argument(
        "--resolve",
        action="store_true",
        help="also have real pip and uv resolve causal-conv1d for each torch minor "
        "that the matrix builds for each channel (a missing one is a fault)",
    )
    p.add_argument(
        "--torch",
        action="append",
        metavar="MINOR",
        help="torch minors to resolve for, in every channel (default: the matrix's)",
    )
    p.add_argument(
        "--matrix",
        type=Path,
        metavar="FILE",
        help="matrix.yaml that says which torch minors each channel has, for --resolve "
        "(default: $WHEEL_MATRIX_FILE, else the repository's)",
    )
    p.add_argument(
        "--resolve-wheels",
        type=Path,
        metavar="DIR",
        help="resolve, for each wheel in DIR (a release's new wheels), its torch in its "
        "channel; a missing or unpicked one is a fault",
    )
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser(
        "pull", help="fetch a published index's pages (not its wheels) to add to it locally"
    )
    p.add_argument("--from", dest="source", required=True, metavar="s3://BUCKET[/PREFIX]")
    p.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS)")
    _root(p)
    p.set_defaults(func=_cmd_pull)

    p = sub.add_parser(
        "publish", help="copy the index to GitHub Pages or S3, or twine-upload the wheels"
    )
    p.add_argument(
        "--to",
        required=True,
        metavar="TARGET",
        help="pages:DIR (a GitHub Pages tree), s3://BUCKET[/PREFIX], or twine:REPOSITORY_URL",
    )
    p.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS)")
    p.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS, help="wheels for twine")
    _root(p)
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser(
        "which-index", help="print the channel URL and install line for this machine"
    )
    p.add_argument("--python", default=sys.executable, help="interpreter to inspect")
    p.add_argument(
        "--index", help="index folder or URL to look in (default: --root, else --base-url)"
    )
    _root(p)
    p.add_argument(
        "--base-url",
        default=None,
        help=f"URL the recipes name (default: --index when it is a URL, else {DEFAULT_BASE_URL})",
    )
    p.set_defaults(func=_cmd_which)

    for name, verb in (("yank", "yank"), ("unyank", "unyank")):
        p = sub.add_parser(name, help=f"{verb} a version (PEP 592) in the index")
        p.add_argument("version", help="1.7.0+cu130torch2.14 (one channel) or 1.7.0 (all)")
        p.add_argument("--project", default="causal-conv1d")
        if name == "yank":
            p.add_argument("--reason", default="", help="shown to users by installers")
        _root(p)
        _base_url(p)
        p.set_defaults(func=_cmd_yank)
