"""Multi-bucket portfolio ("satellites") as pure rules.

Modules: :mod:`.records` (buckets, settings, ledger entries), :mod:`.lifecycle` (the
status machine), :mod:`.drawdown` (high-water mark, hibernation, circuit breaker),
:mod:`.aggression`, :mod:`.reawakening` (graduated re-awakening and win cooldown),
:mod:`.presets` and :mod:`.parameters`, :mod:`.targets` (budget and target rules),
:mod:`.balances` (the signed ledger), :mod:`.dividend_router`, :mod:`.reconciliation`,
:mod:`.performance`, :mod:`.meta_allocator` and :mod:`.planning` (per-bucket planning
scopes). Nothing here reads the clock, the network or the disk: time, values and rates
come in as arguments and every new state is returned.
"""
