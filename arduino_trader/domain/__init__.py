"""Pure decisions and numbers: no clock, network or disk access."""
