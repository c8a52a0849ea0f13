"""`spatialprobe results collect DIR`: every record of a results directory as CSV and Markdown."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("results", help="tabulate results records")
    results = parser.add_subparsers(dest="results_command", metavar="SUBCOMMAND", required=True)
    collect = results.add_parser("collect", help="write summary.csv and summary.md for a results folder, a probe output or a run folder")
    collect.add_argument("directory", type=Path)
    collect.add_argument("--out", type=Path, default=None, help="where to write (default: the directory itself)")
    collect.add_argument("--force", action="store_true", help="replace existing summary files")
    collect.set_defaults(run=_collect)


def results_folders(directory: Path) -> list[Path]:
    """The results folders under what the user named: a results folder itself, a probe output
    (``<out>/results``) or a run folder (every ``steps/**/results``)."""
    if any(directory.glob("*.json")) and not (directory / "results").is_dir() and not (directory / "steps").is_dir():
        return [directory]
    if (directory / "results").is_dir():
        return [directory / "results"]
    return sorted(p for p in (directory / "steps").rglob("results") if p.is_dir() and not any(q.name.endswith(".partial") for q in p.parents))


def _collect(args) -> int:
    from spatialprobe.cli.main import UserError
    from spatialprobe.results import ResultStore, rows, to_csv, to_markdown

    if not args.directory.is_dir():
        raise UserError(f"{args.directory}: no such directory")
    folders = results_folders(args.directory)
    if not folders:
        raise UserError(f"{args.directory}: no results here (expected a results folder, a probe output or a run folder)")
    try:
        table = rows([r for folder in folders for r in ResultStore(folder).records()])
    except ValueError as err:
        raise UserError(str(err)) from None
    out = args.out or args.directory
    written = [out / "summary.csv", out / "summary.md"]
    if any(p.exists() for p in written) and not args.force:
        raise UserError(f"{out}/summary.csv or summary.md exists; pass --force to replace them (or --out elsewhere)")
    out.mkdir(parents=True, exist_ok=True)
    written[0].write_text(to_csv(table))
    written[1].write_text(to_markdown(table))
    print(f"wrote {written[0]} and {written[1]} ({len(table)} rows from {len(folders)} results folder(s))")
    return 0
