"""arduino-trader: an autonomous long-term portfolio manager daemon."""

__version__ = "0.1.0"
