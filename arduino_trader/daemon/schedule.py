"""Pure schedule arithmetic: when is a job next due."""

from __future__ import annotations

from datetime import datetime, timedelta

from arduino_trader.config.schema import spec_for
from arduino_trader.config.settings import Settings
from arduino_trader.config.spec import SettingError
from arduino_trader.protocols.jobs import JobSpec


def check_keys(spec: JobSpec) -> None:
    """Refuse a job whose schedule names an undeclared setting or one of the wrong type
    (:class:`SettingError`), so the by-name reads below cannot fail later."""
    for key, kind in ((spec.every_minutes_key, "int"), (spec.daily_hour_key, "int"),
                      (spec.enabled_key, "bool")):
        if key is not None and spec_for(key).type != kind:
            raise SettingError(key, f"job {spec.name} needs a setting of type {kind}, "
                                    f"this one is of type {spec_for(key).type}")


def interval_minutes(spec: JobSpec, settings: Settings) -> float | None:
    """The job's interval in minutes, or None for daily/manual jobs."""
    if spec.every_minutes_key is not None:
        return float(settings[spec.every_minutes_key])
    return spec.every_minutes


def is_enabled(spec: JobSpec, settings: Settings) -> bool:
    """Whether the job's switch setting (if it has one) is on."""
    return spec.enabled_key is None or bool(settings[spec.enabled_key])


def describe(spec: JobSpec, settings: Settings) -> str:
    """Human text of the schedule, e.g. ``every 5 min`` or ``daily 03:00 UTC``."""
    minutes = interval_minutes(spec, settings)
    if minutes is not None:
        return f"every {minutes:g} min"
    if spec.daily_hour_key is not None:
        hour = int(settings[spec.daily_hour_key])
        text = f"{hour:02d}:{spec.minute:02d} UTC"
        if spec.weekday is not None:
            return f"weekly on {_WEEKDAYS[spec.weekday]} {text}"
        if spec.month_day is not None:
            return f"monthly on day {spec.month_day} {text}"
        return f"daily {text}"
    return "manual only"


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def next_run(spec: JobSpec, settings: Settings, *, now: datetime,
             last_start: datetime | None) -> datetime | None:
    """When the job is next due after ``now`` (None: manual only).

    Interval jobs run ``interval`` after their last start (immediately when overdue);
    calendar jobs at the next matching hour:minute strictly after the last start.
    """
    minutes = interval_minutes(spec, settings)
    if minutes is not None:
        if last_start is None:
            return now if spec.run_at_startup else now + timedelta(minutes=minutes)
        return max(last_start + timedelta(minutes=minutes), now)
    if spec.daily_hour_key is None:
        return None
    hour = int(settings[spec.daily_hour_key])
    after = last_start if last_start is not None and last_start > now else now
    candidate = after.replace(hour=hour, minute=spec.minute, second=0, microsecond=0)
    if candidate <= after:
        candidate += timedelta(days=1)
    for _ in range(400):
        if _matches(spec, candidate):
            return candidate
        candidate += timedelta(days=1)
    return None


def _matches(spec: JobSpec, moment: datetime) -> bool:
    if spec.weekday is not None and moment.weekday() != spec.weekday:
        return False
    return spec.month_day is None or moment.day == spec.month_day
