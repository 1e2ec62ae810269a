"""The backtester: APEX over candle files with the live exit, sizing, fee, minimum and precision rules."""
