"""The ``trainless`` command line: one parser factory, pure ``run_x`` and a renderer per subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import TrainlessError
from . import _bench, _bound, _early, _finetune, _listing, _predict, _validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainless",
        description="Predict how fine-tuning a pretrained network will go, without training it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _predict.add_parser(sub)
    _validate.add_parser(sub)
    _finetune.add_parser(sub)
    _bench.add_parser(sub)
    _early.add_parser(sub)
    _bound.add_parser(sub)
    _listing.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trainless`` console script. Returns the exit status (2 on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        text = args.handler(args)
    except TrainlessError as exc:
        print(f"trainless {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"trainless {args.command}: interrupted; no partial output was written", file=sys.stderr)
        return 130
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
