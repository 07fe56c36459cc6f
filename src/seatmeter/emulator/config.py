"""The emulator's options, as data: each has a name, a default, bounds
and its help in one place. The command line makes one flag per field
(`rate_window` -> `--rate-window`); PUT /_emulator/faults changes the
fault and allowance fields of a running emulator with the same checks.
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DAY_S = 24 * 3600


class Faults(BaseModel):
    """What goes wrong on purpose; changeable while running."""

    model_config = ConfigDict(extra="forbid")

    fail_rate: float = Field(
        0.0, ge=0, le=1, description="Share of Team Admin calls answered 429 or 503 (half each)."
    )
    drop_rate: float = Field(
        0.0, ge=0, le=1, description="Share of Team Admin calls whose connection is dropped."
    )
    latency_ms: int = Field(0, ge=0, le=600_000, description="Delay before each Team Admin call.")
    exit_after_calls: int = Field(
        0, ge=0, description="Exit hard after answering this many Team Admin calls (0: never)."
    )
    fault_retry_after: int = Field(
        1, ge=0, le=3600, description="Retry-After seconds on injected 429 and 503 answers."
    )
    seed: int | None = Field(None, description="Seed for the fault dice, for repeatable runs.")


class Limits(BaseModel):
    """Autodesk's allowance per team (and per client for List Teams)."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: int = Field(60, ge=1, description="Calls allowed per window per team.")
    rate_window: float = Field(
        60.0, gt=0, le=86_400, description="Window length in seconds, aligned to the UTC clock."
    )


class EmulatorConfig(Faults, Limits):
    """Everything `seatmeter emulator autodesk` can be told."""

    host: str = Field("127.0.0.1", description="Address to listen on (keep it loopback).")
    port: int = Field(8740, ge=0, le=65535, description="Port to listen on.")
    data: Path | None = Field(
        None, description="JSON data file; without it, a generated team of 50 users."
    )
    log: Path | None = Field(None, description="Also write the call log here, as JSON lines.")
    access_token_ttl: int = Field(3600, ge=1, description="Access token lifetime in seconds.")
    refresh_token_ttl: int = Field(
        15 * DAY_S, ge=1, description="Refresh token lifetime in seconds."
    )
    code_ttl: int = Field(300, ge=1, description="Authorization code lifetime in seconds.")
    enforce_scopes: bool = Field(
        False, description="Refuse (403) Team Admin calls whose token lacks the scopes."
    )

    def faults(self) -> Faults:
        return Faults(**{name: getattr(self, name) for name in Faults.model_fields})

    def limits(self) -> Limits:
        return Limits(**{name: getattr(self, name) for name in Limits.model_fields})
