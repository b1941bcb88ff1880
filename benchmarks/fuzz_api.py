"""The long API fuzz: ``tests/test_reliability_fuzz.py`` with many examples per operation.

Run: ``.venv/bin/python benchmarks/fuzz_api.py [EXAMPLES]`` (default 200). Prints one JSON
line: examples per operation, pytest's exit code and the wall time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the fuzz module with ``FUZZ_EXAMPLES`` examples per operation."""
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    env = {**os.environ, "FUZZ_EXAMPLES": str(examples)}
    started = time.monotonic()
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=3600",
         "tests/test_reliability_fuzz.py"], cwd=ROOT, env=env)
    print(json.dumps({"examples_per_operation": examples, "exit_code": code,
                      "seconds": round(time.monotonic() - started, 1)}))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
