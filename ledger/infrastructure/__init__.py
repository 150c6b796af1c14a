"""Storage and speed: everything the domain does not need in order to be understood.

The rules live in `ledger/` (aggregates, commands, events, errors); this package holds what
makes them persist and run fast, behind the library's public extension points: the
PostgreSQL recorder and transcoder, the unit of work and aggregate cache, the write pipeline,
and the command log. Their measured costs are in docs/PERFORMANCE.md.
"""
