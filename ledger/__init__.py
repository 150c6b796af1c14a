"""The write side of loyalty-ledger: aggregates, ledger rules and the application."""
