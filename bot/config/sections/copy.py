"""Copy-trading limits (SPEC section 5)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CopySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    master_offline_seconds: float = Field(
        600.0, gt=0, description="seconds without a master heartbeat before followers guard themselves"
    )
    copy_max_parallel: int = Field(
        128, ge=1, le=1024, description="followers sent their orders at once (1-1024)"
    )
