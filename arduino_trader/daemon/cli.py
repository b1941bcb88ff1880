"""The ``arduino-trader`` command: run the daemon and the tools around it."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from arduino_trader import __version__
from arduino_trader.adapters.sandbox.cli import register as register_sandbox
from arduino_trader.adapters.tradernet.capture import register as register_capture
from arduino_trader.config.schema import SETTINGS
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.config.spec import SettingError

from .backup_cli import register as register_offsite
from .paths import TOKEN_FILE, resolve_data_dir
from .study.cli import register as register_study

Command = Callable[[argparse.Namespace], int]


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML settings file (default: $ARDUINO_TRADER_CONFIG)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="state directory (default: $STATE_DIRECTORY or per-user)")


def _load(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    from .service import DaemonOptions, StartupError, TraderDaemon

    try:
        settings = _load(args)
    except SettingError as exc:
        print(f"arduino-trader: invalid configuration: {exc}", file=sys.stderr)
        return 1
    data_dir = resolve_data_dir(args.data_dir, os.environ)
    daemon: TraderDaemon
    if getattr(args, "demo", False):
        from .demo import DemoDaemon, demo_settings

        daemon = DemoDaemon(DaemonOptions(settings=demo_settings(settings), data_dir=data_dir))
    elif getattr(args, "rehearse", False):
        from .rehearsal import RehearsalDaemon, rehearsal_settings

        daemon = RehearsalDaemon(DaemonOptions(settings=rehearsal_settings(settings),
                                               data_dir=data_dir))
    else:
        daemon = TraderDaemon(DaemonOptions(settings=settings, data_dir=data_dir))
    stop = daemon.exit_request.event  # SIGTERM/SIGINT exit 0; the restart route exits 75

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
    except StartupError as exc:
        print(f"arduino-trader: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        daemon.wait(stop)
    finally:
        daemon.stop()
    code = daemon.exit_request.code
    _exit_if_threads_linger(code)
    return code


def _exit_if_threads_linger(code: int = 0) -> None:
    """pykka threads are not daemon threads: never hang the process on a stuck actor."""
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if others:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a settings file and print the effective settings (secrets masked)."""
    try:
        settings = _load(args)
    except SettingError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 1
    public = settings.public()
    width = max(len(k) for k in public)
    for key in sorted(public):
        spec = SETTINGS[key]
        value = json.dumps(public[key])
        unit = f" {spec.unit}" if spec.unit else ""
        print(f"{key.ljust(width)} = {value}{unit}  [{settings.sources[key]}]")
    print(f"configuration ok ({len(public)} settings)", file=sys.stderr)
    return 0


def _base_url(args: argparse.Namespace, settings: Settings) -> str:
    if getattr(args, "url", None):
        return str(args.url).rstrip("/")
    host = settings.typed.api.host
    if host in ("0.0.0.0", "::"):  # noqa: S104 - connecting, not binding
        host = "127.0.0.1"
    return f"http://{host}:{settings.typed.api.port}"


def _http(method: str, url: str, token: str | None = None,
          body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body or {}).encode() if method == "POST" else None
    request = urllib.request.Request(url, method=method, data=data)  # noqa: S310 - http only
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, {"error": "http_error", "message": str(exc)}


def cmd_status(args: argparse.Namespace) -> int:
    """Print the running daemon's status; exit 1 when failing or unreachable."""
    try:
        settings = _load(args)
        code, body = _http("GET", _base_url(args, settings) + "/api/system/status")
    except SettingError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"daemon not reachable: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, sort_keys=True))
    return 0 if code == 200 and isinstance(body, dict) and body.get("status") != "failing" else 1


def _token(args: argparse.Namespace, settings: Settings) -> str:
    if settings.typed.api.token:
        return settings.typed.api.token
    path = resolve_data_dir(args.data_dir, os.environ) / TOKEN_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingError("api.token", f"no token configured and cannot read {path}: "
                           f"{exc}") from None


def cmd_trigger(args: argparse.Namespace) -> int:
    """Trigger a job on the running daemon."""
    try:
        settings = _load(args)
        token = _token(args, settings)
        code, body = _http("POST", _base_url(args, settings) + f"/api/system/jobs/{args.job}",
                           token)
    except SettingError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"daemon not reachable: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, sort_keys=True))
    return 0 if code == 202 else 1


def cmd_kill_switch(args: argparse.Namespace) -> int:
    """Switch the running daemon to research mode and cancel its open orders."""
    try:
        settings = _load(args)
        token = _token(args, settings)
        code, body = _http("POST", _base_url(args, settings) + "/api/trades/kill-switch",
                           token, {"confirm": "STOP TRADING"})
    except SettingError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"daemon not reachable: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, sort_keys=True))
    return 0 if code == 200 and not (isinstance(body, dict) and body.get("errors")) else 1


def cmd_backtest(args: argparse.Namespace) -> int:
    """Run the daemon's actors over history on a step clock and write the report."""
    from datetime import date
    from decimal import Decimal, InvalidOperation

    from .backtest import BacktestConfig, BacktestError, run_backtest, write_report

    try:
        settings = _load(args)
        config = BacktestConfig(
            start=date.fromisoformat(args.start), end=date.fromisoformat(args.end),
            initial_cash=Decimal(args.initial_cash), monthly_deposit=Decimal(args.monthly_deposit),
            data=None if args.data == "bundled" else Path(args.data),
            universe=args.universe, benchmark=args.benchmark,
            progress_every=args.progress_every)
        if args.log_level != "none":
            from .logging_setup import configure_logging

            configure_logging(args.log_level, list, stream=sys.stderr)
        result = run_backtest(config, settings)
    except (SettingError, BacktestError, ValueError, InvalidOperation) as exc:
        print(f"arduino-trader backtest: {exc}", file=sys.stderr)
        return 1
    for path in write_report(result, args.report, log_scale=args.log_scale):
        print(path)
    strategy = result.report["strategy"]
    print(json.dumps({"orders_sha256": result.report["orders_sha256"],
                      "cagr": strategy.get("cagr"), "max_drawdown": strategy.get("max_drawdown"),
                      "trades": result.report["trading"]["trades"],
                      "wall_s": result.report["wall_s"]}), file=sys.stderr)
    _exit_if_threads_linger()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="arduino-trader",
                                     description="Autonomous long-term portfolio manager")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon (research mode unless configured live)")
    _add_common(run)
    run.add_argument("--demo", action="store_true",
                     help="offline demo: research mode, a seeded paper account and the "
                          "bundled real closes re-dated to end yesterday")
    run.add_argument("--rehearse", action="store_true",
                     help="against the local sandbox on any day: markets always open and "
                          "the bundled real closes re-dated to end yesterday")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate settings and print them (masked)")
    _add_common(check)
    check.set_defaults(func=cmd_check_config)

    status = sub.add_parser("status", help="print the running daemon's status")
    _add_common(status)
    status.add_argument("--url", help="admin API base URL (default from settings)")
    status.set_defaults(func=cmd_status)

    trigger = sub.add_parser("trigger", help="trigger a job on the running daemon")
    _add_common(trigger)
    trigger.add_argument("job", help="job name (see `status` or GET /api/system/jobs)")
    trigger.add_argument("--url", help="admin API base URL (default from settings)")
    trigger.set_defaults(func=cmd_trigger)

    kill = sub.add_parser("kill-switch", help="stop trading now: research mode, cancel open "
                          "orders")
    _add_common(kill)
    kill.add_argument("--url", help="admin API base URL (default from settings)")
    kill.set_defaults(func=cmd_kill_switch)

    backtest = sub.add_parser("backtest", help="run the real actors over price history on a "
                              "simulated clock and write a report")
    backtest.add_argument("--config", type=Path, default=None,
                          help="TOML settings file (default: $ARDUINO_TRADER_CONFIG)")
    backtest.add_argument("--data", default="bundled",
                          help="'bundled' (real closes 1990-2022) or a Date,TICKER,... CSV(.gz) "
                          "of any tickers (a column SP500 is the index benchmark)")
    backtest.add_argument("--universe", type=Path, default=None,
                          help="CSV describing the tickers: ticker (or yahoo_symbol), and "
                          "optionally name, currency, country, industry, exchange, mic, "
                          "isin, symbol (default: the bundled directory; a ticker it lacks "
                          "gets <TICKER>.US, USD and a synthetic QZ ISIN)")
    backtest.add_argument("--benchmark", default=None,
                          help="the index to compare with: a column of --data (then not a "
                          "holding) or a Date,VALUE CSV(.gz) (default: a column SP500)")
    backtest.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    backtest.add_argument("--end", required=True, help="last day, YYYY-MM-DD")
    backtest.add_argument("--initial-cash", default="10000", help="EUR at the start")
    backtest.add_argument("--monthly-deposit", default="0", help="EUR each new month")
    backtest.add_argument("--report", type=Path, required=True,
                          help="directory for report.json, orders.json, equity.png")
    backtest.add_argument("--log-scale", action="store_true",
                          help="equity.png's value panel on a logarithmic axis")
    backtest.add_argument("--progress-every", type=int, default=20,
                          help="print progress every N simulated days")
    backtest.add_argument("--log-level", default="warning",
                          choices=("debug", "info", "warning", "error", "none"),
                          help="JSON logs on stderr at this level (none: leave logging as is)")
    backtest.set_defaults(func=cmd_backtest)

    register_sandbox(sub)
    register_capture(sub)
    register_offsite(sub)
    register_study(sub)
    return parser


SIGPIPE_EXIT = 128 + 13  # what a shell reports for a command killed by SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    args = build_parser().parse_args(argv)
    func: Command = args.func
    try:
        code = func(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head` closed the pipe: stop quietly, no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush goes nowhere
        return SIGPIPE_EXIT
    return code


if __name__ == "__main__":
    raise SystemExit(main())
