"""`spatialprobe` entry point: builds the parser from the command modules and reports errors plainly."""

from __future__ import annotations

import argparse
import os
import sys

from spatialprobe import __version__
from spatialprobe.cli import data, demo, features, lab, ls, models, probe, report, results, run, scenes, train

COMMANDS = (scenes, data, models, features, probe, lab, train, run, report, results, ls, demo)


class UserError(Exception):
    """A problem with the user's request or data, shown without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spatialprobe",
        description="Measure where vision-language models keep and lose spatial information.",
    )
    parser.add_argument("--version", action="version", version=f"spatialprobe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    from spatialprobe.models.sites import UnknownSiteError
    from spatialprobe.registry import UnknownNameError
    from spatialprobe.scenes.codec import SceneFormatError
    from spatialprobe.scenes.sources.synthetic.config import SynthConfigError
    from spatialprobe.scenes.sources.synthetic.render import LayoutError

    errors = [UserError, SceneFormatError, SynthConfigError, LayoutError, UnknownNameError, UnknownSiteError]
    lazy = {  # error types of modules only some commands import
        "spatialprobe.models.loading": "ModelLoadError",
        "spatialprobe.features.store": "StoreError",
        "spatialprobe.features.extraction": "ExtractionError",
        "spatialprobe.features.pools": "PoolError",
        "spatialprobe.probing.items": "ProbingError",
        "spatialprobe.probing.config": "ConfigError",
        "spatialprobe.lab.config": "LabConfigError",
        "spatialprobe.experiments.plan": "PlanError",
        "spatialprobe.scenes.sources._real": "SourceError",
        "spatialprobe.executors": "ExecutorError",
        "spatialprobe.train.recipe": "RecipeError",
        "spatialprobe.train.loop": "CheckpointError",
        "spatialprobe.train.pixel": "AlignmentError",
    }
    errors += [getattr(sys.modules[m], name) for m, name in lazy.items() if m in sys.modules]
    return (*errors, FileExistsError, FileNotFoundError)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: every clean-up a Ctrl-C runs (temp folders, worker pools) runs."""


def _terminate(signum, frame) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.run(args) or 0
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except Terminated:
        print("spatialprobe: terminated (run the same command again to continue)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("spatialprobe: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - user errors are shown plainly, the rest re-raised
        if isinstance(err, _user_errors()):
            print(f"spatialprobe: error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
