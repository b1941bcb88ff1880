"""benchmarks/demo_rss.py: what of an emulated daemon's memory is qemu-user's own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.demo_rss import emulator_kb, emulator_mb

# The shape of /proc/<pid>/smaps of a python3 run by qemu-aarch64-static (header lines
# and the Rss lines the function reads; the other fields of each entry are left out).
QEMU_SMAPS = """\
00400000-00401000 r--p 00000000 08:01 123 /usr/bin/python3.11
Rss:                   4 kB
00401000-00402000 rw-p 00000000 00:00 0
Rss:                 400 kB
7f9d84000000-7f9d8bfff000 rwxp 00000000 00:00 0
Rss:              130560 kB
7f9d92628000-7f9d92aa7000 r-xp 00000000 08:01 77 /usr/bin/qemu-aarch64-static
Rss:                8500 kB
7f9d93000000-7f9d93100000 rw-p 00000000 00:00 0                          [heap]
Rss:               19046 kB
7f9d93203000-7f9d93205000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
"""


def test_counts_qemus_binary_heap_and_code_buffer_only() -> None:
    assert emulator_kb(QEMU_SMAPS) == 8500 + 130560 + 19046


def test_a_process_that_is_not_emulated_has_no_emulator_share() -> None:
    native = QEMU_SMAPS.replace("/usr/bin/qemu-aarch64-static", "/usr/lib/libc.so.6")
    assert emulator_kb(native) is None
    assert emulator_mb(os.getpid()) is None  # this test runs natively
