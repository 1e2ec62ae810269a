"""The independent broker trader: one worker thread per account, orchestration only (no strategy here)."""
