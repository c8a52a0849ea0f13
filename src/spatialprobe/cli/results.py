"""`spatialprobe results collect DIR`: every record of a results directory as CSV and Markdown."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("results", help="tabulate results records")
    results = parser.add_subparsers(dest="results_command", metavar="SUBCOMMAND", required=True)
    collect = results.add_parser("collect", help="write summary.csv and summary.md for a results directory")
    collect.add_argument("directory", type=Path)
    collect.add_argument("--out", type=Path, default=None, help="where to write (default: the directory itself)")
    collect.set_defaults(run=_collect)


def _collect(args) -> int:
    from spatialprobe.cli.main import UserError
    from spatialprobe.results import ResultStore, rows, to_csv, to_markdown

    if not args.directory.is_dir():
        raise UserError(f"{args.directory}: no such results directory")
    try:
        table = rows(ResultStore(args.directory).records())
    except ValueError as err:
        raise UserError(str(err)) from None
    out = args.out or args.directory
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.csv").write_text(to_csv(table))
    (out / "summary.md").write_text(to_markdown(table))
    print(to_markdown(table), end="")
    print(f"wrote {out / 'summary.csv'} and {out / 'summary.md'} ({len(table)} rows)")
    return 0
