"""``python -m arduino_trader`` is the ``arduino-trader`` command."""

from arduino_trader.daemon.cli import main

raise SystemExit(main())
