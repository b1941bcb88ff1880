"""Peak memory of the demo (a script, not a test): ``.venv/bin/python benchmarks/demo_rss.py``.

Starts ``arduino-trader run --demo`` in a fresh data directory (a free loopback port),
polls ``GET /health`` every second, waits for its first stored plan, stops it with SIGTERM
and reports the process's peak resident set (``VmHWM`` from ``/proc/<pid>/status``) and
whether cvxpy or the solvers it imports were ever mapped into it (``/proc/<pid>/maps``).
``--cold`` uses an empty Numba cache directory (the first start after an install or
upgrade). ``--root DIR --venv PATH`` runs the daemon of the virtualenv PATH inside the
root file system DIR (``chroot``, a clean environment; ``.ci/arm64-smoke`` uses it for an
ARM64 root under qemu-user); this script itself needs only the standard library.
Prints one JSON line: ``{first_plan_s, plan_status, plan_reason, plan_steps, healthy_s,
unhealthy_s, unhealthy_reasons, peak_rss_mb, child_peak_rss_mb, peak_tree_rss_mb,
emulator_rss_mb, cvxpy_loaded, exit_code}``: ``peak_rss_mb`` is the daemon's own peak,
``child_peak_rss_mb`` that of its child processes (the kernel compile of a cold start),
``peak_tree_rss_mb`` the largest sum of the daemon's and its children's resident sets
sampled at once; ``emulator_rss_mb`` what of the daemon's resident set at its first plan
is qemu-user's own (its binary, heap and translated-code buffer; null when not
emulated), so the guest's share is the difference; ``healthy_s`` is when ``/health``
first answered 200, ``unhealthy_s`` the seconds it did not answer 200 after that (a poll
without an answer within 5 s counts too) and ``unhealthy_reasons`` the first distinct
answers instead of 200. Exit status 0 when a
plan was stored and the daemon exited with 0. The daemon's own log (stdout and stderr) is
written to a file; when the first plan has no steps or the daemon fails, its last
``LOG_TAIL`` lines are printed to stderr (what the plan and the actors said).

``--compare REV`` measures git revision ``REV`` (its files exported to a temporary
directory) and this tree one after the other, each started twice on the same data
directory: the first start seeds the demo and fills the tree's Numba cache, the second is
the warm restart measured (``first_plan_s``: its first new plan).
Prints ``{REV: {...}, "current": {...}}`` with the same fields: one run, one machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.revision import ROOT, export

POLL_S = 1.0
LOG_TAIL = 60  # lines of the daemon's log shown when its first plan has no steps
HEALTH_TIMEOUT_S = 5.0  # an answer slower than this counts as not 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status_mb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:  # exited between two polls
        pass
    return 0.0


def _peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM")


def _children(pid: int) -> list[int]:
    """The daemon's child processes (the kernel compile on a cold start)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


class TreeMemory:
    """The daemon's peak (``VmHWM``), its children's, and the largest sampled sum of the
    resident sets of the daemon and its children (what the board had to hold at once)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self.child_peak = 0.0
        self.tree_peak = 0.0

    def sample(self) -> None:
        self.peak = max(self.peak, _peak_rss_mb(self.pid))
        total = _status_mb(self.pid, "VmRSS")
        for child in _children(self.pid):
            self.child_peak = max(self.child_peak, _peak_rss_mb(child))
            total += _status_mb(child, "VmRSS")
        self.tree_peak = max(self.tree_peak, total)


# cvxpy's own extension loads lazily; the solvers it imports on ``import cvxpy`` do not.
CVXPY_SIGNS = ("/cvxpy/", "/clarabel/", "/scs/", "/ecos/")


def _cvxpy_mapped(pid: int) -> bool:
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return any(sign in maps for sign in CVXPY_SIGNS)


def emulator_kb(smaps: str) -> int | None:
    """Resident kB of qemu-user's own mappings in a ``/proc/<pid>/smaps`` text, None when
    the process is not emulated: qemu's binary, its heap (a guest's heap is an anonymous
    mapping under qemu-user, never ``[heap]``) and its translated-code buffer (the
    anonymous read-write-execute mapping; a guest's code is never executable on the host)."""
    emulated, kb, counted = False, 0, False
    for line in smaps.splitlines():
        fields = line.split()
        if not fields:
            continue
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            name = fields[5] if len(fields) > 5 else ""
            is_qemu = Path(name).name.startswith("qemu-")
            emulated = emulated or is_qemu
            counted = is_qemu or name == "[heap]" or (not name and fields[1] == "rwxp")
        elif fields[0] == "Rss:" and counted:
            kb += int(fields[1])
    return kb if emulated else None


def emulator_mb(pid: int) -> float | None:
    """:func:`emulator_kb` of a running process, in MB."""
    try:
        kb = emulator_kb(Path(f"/proc/{pid}/smaps").read_text())
    except OSError:  # exited
        return None
    return None if kb is None else round(kb / 1024, 1)


def _health(port: int) -> str | None:
    """None when ``/health`` answers 200, else why not (status and body, or the error)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health",
                                    timeout=HEALTH_TIMEOUT_S) as r:
            return None if r.status == 200 else f"HTTP {r.status}"
    except urllib.error.HTTPError as exc:  # 503 with the reasons
        return f"HTTP {exc.code}: {exc.read(300).decode(errors='replace')}"
    except (urllib.error.URLError, OSError) as exc:  # refused, timed out
        return type(getattr(exc, "reason", exc)).__name__


def _first_plan(db: Path, after: int = 0) -> tuple[str, str, int] | None:
    """Status, reason and step count of the first plan stored with an id above ``after``."""
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute("SELECT id, status, reason FROM plans WHERE id > ? "
                              "ORDER BY id LIMIT 1", (after,)).fetchone()
            if row is None:
                return None
            steps = con.execute("SELECT COUNT(*) FROM recommendations WHERE plan_id = ?",
                                (row[0],)).fetchone()[0]
            return str(row[1]), str(row[2]), int(steps)
    except sqlite3.Error:  # not created or migrated yet
        return None


def _last_plan_id(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
        return int(con.execute("SELECT COALESCE(MAX(id), 0) FROM plans").fetchone()[0])


def _command(args: argparse.Namespace, work: Path, port: int,
             tree: Path | None) -> tuple[list[str], dict[str, str], Path]:
    """The daemon's command line, environment and (host path of) its database; the package
    of ``tree`` when given, else the installed one."""
    if args.root is None:
        env = dict(os.environ, ARDUINO_TRADER_API__PORT=str(port))
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        if args.cold:
            env["NUMBA_CACHE_DIR"] = str(work / "numba")
        cmd = [sys.executable, "-m", "arduino_trader", "run", "--demo",
               "--data-dir", str(work / "state")]
        return cmd, env, work / "state" / "arduino-trader.db"
    root = Path(args.root).resolve()
    guest = Path("/") / work.relative_to(root)
    clean = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8",
             f"ARDUINO_TRADER_API__PORT={port}"]
    if args.cold:
        clean.append(f"NUMBA_CACHE_DIR={guest / 'numba'}")
    cmd = ["chroot", str(root), "/usr/bin/env", "-i", *clean,
           f"{args.venv}/bin/python", "-m", "arduino_trader", "run", "--demo",
           "--data-dir", str(guest / "state")]
    return cmd, dict(os.environ), work / "state" / "arduino-trader.db"


def _show_tail(log_path: Path) -> None:
    """The last ``LOG_TAIL`` lines of the daemon's log, to stderr."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL:]
    except OSError:
        return
    print(f"--- the daemon's log, last {len(lines)} lines ({log_path.name}) ---",
          file=sys.stderr)
    print("\n".join(lines), file=sys.stderr)
    print("--- end of the daemon's log ---", file=sys.stderr)


def measure(args: argparse.Namespace, tree: Path | None = None,
            work: Path | None = None) -> dict[str, Any]:
    """One start of the demo until its first plan: the figures of the JSON line. A fresh
    data directory (removed after), or ``work``'s (kept: a restart of that daemon)."""
    keep = work is not None
    if work is None:
        base = Path(args.root) / "var" / "tmp" if args.root else None
        work = Path(tempfile.mkdtemp(prefix="demo-rss-", dir=base)).resolve()
    port = _free_port()
    cmd, env, db = _command(args, work, port, tree)
    after = _last_plan_id(db)
    started = time.monotonic()
    log_path = work / f"daemon-{port}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(cmd, env=env, cwd=tree, stdout=log_file,
                                stderr=subprocess.STDOUT)
    memory = TreeMemory(proc.pid)
    cvxpy, plan, first_plan_s, emulator = False, None, None, None
    healthy_s: float | None = None
    unhealthy_s = 0.0
    reasons: list[str] = []
    try:
        while proc.poll() is None and time.monotonic() - started < args.timeout:
            tick = time.monotonic()
            memory.sample()
            cvxpy = cvxpy or _cvxpy_mapped(proc.pid)
            why = _health(port)
            if why is None:
                healthy_s = healthy_s or round(time.monotonic() - started, 1)
            elif healthy_s is not None:
                unhealthy_s += max(POLL_S, time.monotonic() - tick)
                if why not in reasons and len(reasons) < 5:
                    reasons.append(why)
            plan = _first_plan(db, after)
            if plan is not None:
                first_plan_s = round(time.monotonic() - started, 1)
                emulator = emulator_mb(proc.pid)
                break
            time.sleep(max(0.0, POLL_S - (time.monotonic() - tick)))
        if proc.poll() is None:
            memory.sample()
            cvxpy = cvxpy or _cvxpy_mapped(proc.pid)
            proc.send_signal(signal.SIGTERM)
            # Its peak is sampled until it is gone (stopping must not grow it unseen).
            while proc.poll() is None and time.monotonic() - started < args.timeout + 120:
                tick = time.monotonic()
                memory.sample()
                time.sleep(max(0.0, 0.2 - (time.monotonic() - tick)))
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not (plan and plan[2]) or proc.returncode != 0:
            _show_tail(log_path)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)  # the data directory and any Numba cache
    return {"first_plan_s": first_plan_s, "plan_status": plan and plan[0],
            "plan_reason": plan and plan[1], "plan_steps": plan and plan[2],
            "healthy_s": healthy_s,
            "unhealthy_s": round(unhealthy_s, 1), "unhealthy_reasons": reasons,
            "peak_rss_mb": round(memory.peak, 1),
            "child_peak_rss_mb": round(memory.child_peak, 1),
            "peak_tree_rss_mb": round(memory.tree_peak, 1),
            "emulator_rss_mb": emulator, "cvxpy_loaded": cvxpy, "exit_code": code}


def _ok(result: dict[str, Any]) -> bool:
    return result["plan_status"] is not None and result["exit_code"] == 0


def compare(args: argparse.Namespace) -> int:
    """``args.compare`` then this tree, each started twice (the second start measured)."""
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="demo-rss-compare-") as tmp:
        other = export(args.compare, Path(tmp))
        for name, tree in ((args.compare, other), ("current", ROOT)):
            work = Path(tmp) / f"work-{name}"
            work.mkdir()
            measure(args, tree, work)  # seeds the demo, fills this tree's Numba cache
            runs[name] = measure(args, tree, work)  # the warm restart
    print(json.dumps(runs))
    return 0 if all(_ok(r) for r in runs.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="empty Numba cache directory")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--root", help="run the daemon chrooted into this root file system")
    parser.add_argument("--venv", default="/opt/arduino-trader/.venv",
                        help="with --root: the virtualenv holding the package (guest path)")
    parser.add_argument("--compare", metavar="REV", default=None,
                        help="also measure git revision REV, each warm start after a first")
    args = parser.parse_args()
    if args.compare:
        if args.root or args.cold:
            parser.error("--compare measures warm starts of this machine's interpreter")
        return compare(args)
    result = measure(args)
    print(json.dumps(result))
    return 0 if _ok(result) else 1


if __name__ == "__main__":
    sys.exit(main())
