"""The APEX strategy as pure functions of candle frames and StrategySettings (docs/rules.md §4).

indicators: compute_indicators / indicator_block; apex: entries (evaluate_entry, scan_frames,
signal_frame); exits: Position, evaluate_exit, apply_exit; sizing: size_entry, exit_quantity;
plan: plan_exits (no gates) and plan_entries (the gates). Nothing here knows brokers or threads.
"""
