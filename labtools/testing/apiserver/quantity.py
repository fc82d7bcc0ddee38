"""resource.Quantity: parse, compare, add and print quantities as apimachinery does.

`staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go`: a value keeps the format it
was written in (binary `Ki..Ei`, decimal `n..E`, or exponent `e3`), and prints canonically:
the largest suffix that leaves an integer mantissa (`1000m` -> `1`, `1536Mi` stays, `0.5` ->
`500m`), binary values below 1024 or with a fraction printed as decimal. Values are kept as
integer nano-units (the smallest unit a Quantity carries), rounded up like `Quantity.RoundUp`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

NANO = 10**9
BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6}
DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_DEC_SUFFIX = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
QUANTITY_HELP = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


class QuantityError(ValueError):
    """Not a quantity (the API answers with the regular expression it wants)."""


@dataclass(frozen=True)
class Quantity:
    """A quantity as integer nano-units and the format it prints in."""

    nanos: int
    fmt: str = "DecimalSI"  # BinarySI, DecimalSI or DecimalExponent

    def __str__(self) -> str:
        return canonical(self)

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.nanos + other.nanos, self.fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.nanos - other.nanos, self.fmt)

    def milli(self) -> int:
        """MilliValue (rounded up)."""
        return -((-self.nanos) // 10**6)

    def value(self) -> int:
        """Value (rounded up to an integer)."""
        return -((-self.nanos) // NANO)


ZERO = Quantity(0)


def parse(text: Any) -> Quantity:
    """resource.ParseQuantity (numbers are accepted as JSON sends them)."""
    if isinstance(text, bool):
        raise QuantityError(QUANTITY_HELP)
    if isinstance(text, int | float):
        text = repr(text) if isinstance(text, float) else str(text)
    if not isinstance(text, str):
        raise QuantityError(QUANTITY_HELP)
    match = _RE.match(text.strip())
    if not match:
        raise QuantityError(QUANTITY_HELP)
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation as exc:
        raise QuantityError(QUANTITY_HELP) from exc
    if suffix in BINARY:
        scaled, fmt = value * BINARY[suffix], "BinarySI"
    elif suffix[:1] in ("e", "E"):
        scaled, fmt = value * (Decimal(10) ** int(suffix[1:])), "DecimalExponent"
    else:
        scaled, fmt = value * DECIMAL[suffix], "DecimalSI"
    nanos = int((scaled * NANO).to_integral_value(rounding=ROUND_CEILING))
    return Quantity(nanos, fmt)


def canonical(q: Quantity) -> str:
    """Quantity.String(): the canonical text of a quantity."""
    if q.nanos == 0:
        return "0"
    if q.fmt == "BinarySI" and q.nanos % NANO == 0 and abs(q.nanos) >= 1024 * NANO:
        value = q.nanos // NANO
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
            if value % BINARY[suffix] == 0:
                return f"{value // BINARY[suffix]}{suffix}"
        return str(value)
    exp = -9
    while exp < 18 and q.nanos % (10 ** (exp + 3 + 9)) == 0:
        exp += 3
    mantissa = q.nanos // (10 ** (exp + 9))
    if q.fmt == "DecimalExponent":
        return f"{mantissa}e{exp}" if exp else str(mantissa)
    return f"{mantissa}{_DEC_SUFFIX[exp]}"


def normalize(text: Any) -> str:
    """The canonical text of a quantity string (what the server stores and returns)."""
    return canonical(parse(text))


def normalize_list(resources: Any) -> Any:
    """A ResourceList with canonical quantities; values that do not parse are left alone."""
    if not isinstance(resources, dict):
        return resources
    out = {}
    for key, value in resources.items():
        try:
            out[key] = normalize(value)
        except QuantityError:
            out[key] = value
    return out


__all__ = ["ZERO", "Quantity", "QuantityError", "canonical", "normalize", "normalize_list", "parse"]
