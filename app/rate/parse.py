"""One rule for an exchange rate someone enters (the Costs screen's form and CSV, `flask rates set`)."""
from decimal import Decimal, InvalidOperation

# 1 unit of a currency is worth less than a trillion units of another for every pair in use today
# (the widest, e.g. BTC→IRR, is about 1e10); a bound keeps converted figures in numbers people read.
MAX_RATE = Decimal("1e12")
MAX_DECIMALS = 10


class RateError(ValueError):
    """A rate that is not a usable number; the message says why."""


def parse_rate(raw) -> Decimal:
    """A rate "0.0271" (1 currency = rate quote currency) → Decimal, more than 0, below 1e12, ≤ 10 decimals.

    Raises RateError on anything else (empty, not a number, NaN/Infinity, 0 or less, too large,
    too many decimals). Commas are thousands separators, as in cost amounts: "1,250.5" is 1250.5.
    """
    if raw is None or isinstance(raw, bool) or (isinstance(raw, str) and not raw.strip()):
        raise RateError("`rate` is required, e.g. 0.0271")
    if isinstance(raw, str) and not raw.isascii():  # Decimal() reads "١٢" and "１２" as 12
        raise RateError(f"`rate` must be written with ASCII digits, not {raw[:20]!r}")
    try:
        rate = Decimal(raw.strip().replace(",", "") if isinstance(raw, str) else str(raw))
    except (InvalidOperation, TypeError, ValueError):
        raise RateError(f"`rate` must be a number such as 0.0271, not {str(raw)[:20]!r}") from None
    if not rate.is_finite() or rate <= 0:
        raise RateError("`rate` must be more than zero")
    if rate >= MAX_RATE:
        raise RateError("`rate` must be below 1000000000000")
    if -rate.as_tuple().exponent > MAX_DECIMALS:
        raise RateError(f"`rate` has more than {MAX_DECIMALS} decimals")
    return rate
