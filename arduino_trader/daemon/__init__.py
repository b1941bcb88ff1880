"""The process: CLI, wiring, supervision, scheduler, admin HTTP API, logging, systemd notify."""
