"""The base of every settings section: frozen, unknown fields refused, and no number that is not finite.

`allow_inf_nan=False` applies to every float field of every section (and to the items of a tuple of
floats), so a new field gets it without asking. Each numeric field also states a finite range with
its Field(ge/gt, le/lt); tests/config/test_ranges.py walks every section and fails for a field
without one, so a setting added later cannot slip through either.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SettingsSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
