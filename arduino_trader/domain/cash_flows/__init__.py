"""Cash flows as pure rules: normalise broker records, key them, convert to EUR, and
derive the effects of applying each one exactly once.

Modules: :mod:`.records` (typed records), :mod:`.normalise` (raw broker shapes →
records or explicit rejections), :mod:`.row_readers` (one raw row of each source),
:mod:`.keys` (stable unique keys), :mod:`.fx` (EUR at the record date), :mod:`.effects`
(exactly-once effects), :mod:`.deposit_split` (deposit allocation across buckets),
:mod:`.summary` (sync counts, the completed-only summary, list-query validation).
"""
