"""Settings sections, one per layer; bot.config.settings composes them into one object.

Every field's environment variable is its name upper-cased, unless the field sets
``json_schema_extra={"env": "NAME"}``. Field names are unique across all sections.
"""
