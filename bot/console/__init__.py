"""What a person sees: process exits without tracebacks, tables, progress bars and the live status lines."""
