"""The read side: projections of the event log, their runner, rebuild and as-of replay."""
