"""``arduino-trader sandbox``: run the Tradernet-compatible sandbox in the foreground."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, Sandbox, serve_forever


def register(sub: Any) -> None:
    """Add the ``sandbox`` subcommand to an argparse subparsers object."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "sandbox", help="run a local Tradernet-compatible sandbox (no real money)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    parser.add_argument("--state", type=Path, default=None,
                        help="JSON file holding the account (created if missing); "
                             "without it the account lives in memory only")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated market")
    parser.add_argument("--public-key", default=None, help="API public key to accept")
    parser.add_argument("--private-key", default=None, help="API private key to accept")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the sandbox and serve until Ctrl-C."""
    if (args.public_key is None) != (args.private_key is None):
        print("arduino-trader sandbox: give both --public-key and --private-key, or neither "
              "(for the demo pair)", file=sys.stderr)
        return 2
    try:
        sandbox = Sandbox.create(args.state, args.seed,
                                 public_key=args.public_key or DEMO_PUBLIC_KEY,
                                 private_key=args.private_key or DEMO_PRIVATE_KEY)
    except (OSError, ValueError) as exc:
        print(f"arduino-trader sandbox: cannot open state {args.state}: {exc}", file=sys.stderr)
        return 1
    try:
        serve_forever(sandbox, args.host, args.port, announce=lambda line: print(line,
                                                                                  flush=True))
    except OSError as exc:
        print(f"arduino-trader sandbox: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    return 0
