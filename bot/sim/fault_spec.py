"""The fault plan written on one line, for ``python -m bot.sim --faults SPEC``.

SPEC is rules separated by ``;``, each ``[TARGET:]SETTING=VALUE[,SETTING=VALUE...]``:

- TARGET is ``FACE``, ``FACE/ENDPOINT`` or ``*/ENDPOINT`` (``*`` or nothing: every face and endpoint).
  Endpoints are each face's own names: Kraken ``AddOrder``, Coinbase ``CreateOrder``, Alpaca
  ``submit_order`` (see the faces' ``endpoint`` tables).
- SETTINGS: ``drop`` (fraction executed, then answered by a dropped connection: a lost answer),
  ``5xx`` (fraction answered 5xx before anything is executed), ``latency`` (real seconds added),
  ``hang`` (fraction executed, then held ``hang_seconds``), ``hang_seconds``, ``error`` (an exchange
  error string answered instead of executing) and ``error_rate`` (fraction of requests given it).

Example: ``drop=0.1,5xx=0.05`` (everywhere); ``kraken/AddOrder:drop=0.3;alpaca:latency=0.2``.
The most specific rule that matches a request decides (bot/sim/faults.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.sim.faults import FaultPlan

SETTINGS: dict[str, tuple[str, type]] = {
    "drop": ("drop_after_execute_rate", float),
    "5xx": ("http_5xx_rate", float),
    "latency": ("latency", float),
    "hang": ("hang_rate", float),
    "hang_seconds": ("hang_seconds", float),
    "error": ("forced_error", str),
    "error_rate": ("error_rate", float),
}
_RATES = {"drop", "5xx", "hang", "error_rate"}


class FaultSpecError(ValueError):
    """One line naming the part of the spec that is wrong and what is expected."""


@dataclass(frozen=True)
class FaultSpecRule:
    face: str | None
    endpoint: str | None
    fields: dict[str, Any]


def parse_fault_spec(spec: str, faces: tuple[str, ...] | list[str]) -> list[FaultSpecRule]:
    """The rules of `spec`; `faces` are the face names a target may name."""
    rules: list[FaultSpecRule] = []
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        head, colon, rest = part.partition(":")
        target, body = (head.strip(), rest) if colon and "=" not in head else ("", part)
        face, _, endpoint = target.partition("/")
        face = face.strip()
        if face in ("", "*"):
            face_name = None
        elif face in faces:
            face_name = face
        else:
            raise FaultSpecError(f"--faults {part!r}: unknown face {face!r}; expected one of *, {', '.join(faces)}")
        fields: dict[str, Any] = {}
        for item in (i.strip() for i in body.split(",")):
            name, equals, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if not equals or name not in SETTINGS:
                raise FaultSpecError(
                    f"--faults {part!r}: {item!r} is not SETTING=VALUE with SETTING one of {', '.join(SETTINGS)}"
                )
            field, kind = SETTINGS[name]
            if kind is float:
                try:
                    number = float(value)
                except ValueError:
                    raise FaultSpecError(f"--faults {part!r}: {name}={value!r} is not a number") from None
                if number < 0 or (name in _RATES and number > 1):
                    expected = "a fraction from 0 to 1" if name in _RATES else "0 or more seconds"
                    raise FaultSpecError(f"--faults {part!r}: {name}={value!r}; expected {expected}")
                fields[field] = number
            else:
                fields[field] = value
        rules.append(FaultSpecRule(face_name, endpoint.strip() or None, fields))
    return rules


def apply_fault_spec(plan: FaultPlan, rules: list[FaultSpecRule], seed: int) -> None:
    """Replace `plan`'s rules by these, its draws seeded by `seed`."""
    plan.clear()
    plan.reseed(seed)
    for rule in rules:
        plan.set(rule.face, rule.endpoint, **rule.fields)
