"""Account states: what each account is doing and why; the trader runs on them and diagnostics reports them."""
