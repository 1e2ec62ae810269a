"""Configuration layer: settings from the environment, accounts from config/users."""
