"""`spatialprobe ls [KIND]`: what is registered, without importing heavy modules."""

from __future__ import annotations


def add_parser(sub) -> None:
    parser = sub.add_parser("ls", help="list registered sources, models, tasks, probes and metrics")
    parser.add_argument("kind", nargs="?", help="one of: sources, models, tasks, probes, metrics")
    parser.set_defaults(run=_ls)


def _ls(args) -> int:
    from spatialprobe.registry import ALL, UnknownNameError

    if args.kind is not None and args.kind not in ALL:
        raise UnknownNameError(f"unknown kind {args.kind!r}; valid kinds: {', '.join(ALL)}")
    for kind, registry in ALL.items():
        if args.kind in (None, kind):
            names = registry.names()
            print(f"{kind}: {', '.join(names) if names else '(none yet)'}")
    return 0
