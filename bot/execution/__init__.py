"""The execution ledger: every order of every account goes through it, and is booked exactly once."""
