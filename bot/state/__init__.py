"""The state store: what every account did and is doing, safe across threads and restarts."""
