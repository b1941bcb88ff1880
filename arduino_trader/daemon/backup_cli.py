"""``arduino-trader offsite-backups``: list the off-board backups, fetch and verify one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from arduino_trader.config.settings import load_settings
from arduino_trader.config.spec import SettingError


def cmd_offsite(args: argparse.Namespace) -> int:
    """List the bucket's backups, or fetch ``--restore NAME`` into ``--to PATH``.

    The bucket is read from the settings file and environment only (the database may be
    what is lost). Exit 1 with the reason when anything fails; nothing is left at the
    target path then."""
    from arduino_trader.adapters.offsite_backup import (
        OffsiteBackupError,
        OffsiteBackups,
        target_from_settings,
    )

    try:
        target = target_from_settings(load_settings(args.config))
        if target is None:
            raise OffsiteBackupError("no bucket configured (backup.s3_endpoint_url is empty)")
        offsite = OffsiteBackups(target)
        if args.restore is None:
            for backup in offsite.backups():
                print(f"{backup.name}\t{backup.size}")
            return 0
        if args.to is None:
            raise OffsiteBackupError("--restore needs --to PATH (a new file)")
        path = offsite.fetch(args.restore, args.to)
    except (SettingError, OffsiteBackupError) as exc:
        print(f"arduino-trader offsite-backups: {exc}", file=sys.stderr)
        return 1
    print(f"{args.restore} verified (sha256, quick_check) and written to {path}")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``arduino-trader`` parser."""
    parser = sub.add_parser("offsite-backups", help="list the off-board backups, or fetch "
                            "and verify one for a restore")
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML settings file (default: $ARDUINO_TRADER_CONFIG)")
    parser.add_argument("--restore", metavar="NAME", default=None,
                        help="backup to fetch, e.g. arduino-trader-20260301T030000Z.db")
    parser.add_argument("--to", type=Path, default=None,
                        help="where to write the verified copy (must not exist)")
    parser.set_defaults(func=cmd_offsite)
