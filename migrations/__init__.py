"""The SQL migrations, one folder per backend (applied by `loyalty-ledger migrate`).

A package only so that a regular (non-editable) install carries the SQL files.
"""
