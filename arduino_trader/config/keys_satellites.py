"""Settings of the satellites area.

The allocation settings themselves (budget, min/max, dampening, evaluation months) live
in the ``allocation_settings`` table, because changing them is guarded by the bucket
targets); only the job schedules and the reconciliation threshold are here.
"""

from __future__ import annotations

from .spec import SettingSpec

_J = "scheduling"
_S = "satellites"

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("job_satellite_maintenance_hour", "int", 11, "Hour (UTC) of the daily "
                "satellite maintenance (high-water marks, hibernation, circuit breaker)",
                minimum=0, maximum=23, group=_J),
    SettingSpec("job_satellite_reconciliation_hour", "int", 23, "Hour (UTC) of the daily "
                "bucket reconciliation against broker cash (runs at :30)", minimum=0,
                maximum=23, group=_J),
    SettingSpec("job_satellite_evaluation_hour", "int", 3, "Hour (UTC) of the weekly "
                "(Sunday) satellite evaluation; targets change only once per "
                "evaluation period", minimum=0, maximum=23, group=_J),
    SettingSpec("satellite_reconcile_auto_correct_eur", "decimal", "5", "Reconciliation "
                "gaps up to this EUR value (converted per currency) are corrected against "
                "core with an audit row; larger gaps are reported", unit="EUR", minimum=0,
                maximum=100, group=_S),
)
