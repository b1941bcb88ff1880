"""Read-side queries of the admin API, on its own read-only connection.

The API's handlers hold no SQL: each area's reads live here (one module per area) and run
on :class:`~.connection.ReadOnlyDb`, a ``mode=ro`` connection that cannot write. Writes
from the API go through the repositories and the actors.
"""
