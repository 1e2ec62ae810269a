"""Diagnostics: for every account, will it trade, and if not, exactly why and what fixes it (docs/rules.md §1).

- states: the ONE account-state classification (AccountState, AccountStatus, classify_account) the trader,
  `bot.py status` and the verify scripts share; probe: the one read-only visit to an exchange.
- checks / deadlock / report: the ordered pass-warn-fail checks per account, deadlock findings, diagnose().
- render / commands: what the scripts/verify_*.py wrappers print and their exit codes.
"""
