"""Notifications to the operator through Apprise (issue 12)."""
