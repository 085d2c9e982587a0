"""Field types shared by the domains' schemas."""

import datetime as dt
import re
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field, StringConstraints

# PostgreSQL's bigint: ids beyond it cannot exist, so they are rejected as invalid, not looked up.
BIGINT_MAX = 2**63 - 1


# One definition for the validators and for the spec's patterns, in explicit character classes:
# regex dialects disagree on what \s covers. Blank = only controls and spaces.
NUL = "\\x00"
VISIBLE = "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200b\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"
NO_NUL_PATTERN = f"^[^{NUL}]*$"
NOT_BLANK_PATTERN = f"^[^{NUL}]*{VISIBLE}[^{NUL}]*$"


def _not_blank(value: str) -> str:
    if not re.search(VISIBLE, value):
        raise ValueError("must not be blank")
    return value


def _storable_text(value: str) -> str:
    # PostgreSQL text holds neither NUL nor unpaired surrogates (not valid UTF-8).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value.strip()


def text(min_length: int = 0, max_length: int = 200) -> Any:
    """A string PostgreSQL can store, stored trimmed. Lengths are of the string as sent; a required
    one must not be blank."""
    checks = [AfterValidator(_not_blank)] if min_length else []
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        Field(json_schema_extra={"pattern": NOT_BLANK_PATTERN if min_length else NO_NUL_PATTERN}),
        *checks,
        AfterValidator(_storable_text),
    ]


def _json_integer(value: Any) -> Any:
    # JSON has one number type, and JSON Schema's "integer" is any number without a fraction: 2599.0
    # is the integer 2599. A string, a boolean or a fraction is not an integer.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("must be an integer")


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


def bounded_json_int(minimum: int, maximum: int, description: str) -> Any:
    """A JsonInt within bounds, for a type alias. (Annotated[JsonInt, Field(ge=...)] would write the bounds into
    the OpenAPI schema as pydantic's own "ge"/"le", which JSON Schema ignores: the bounds come before the
    validator here, so they are written as minimum and maximum.)"""
    return Annotated[int, Field(ge=minimum, le=maximum, description=description), BeforeValidator(_json_integer)]


# Special-use domains (RFC 6761 and the like) receive no mail, and email-validator refuses them: the
# pattern says so in the spec. Kept in step with email_validator.SPECIAL_USE_DOMAIN_NAMES (a test checks).
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")
_ANY_CASE = "|".join("".join(f"[{c}{c.upper()}]" for c in name) for name in SPECIAL_USE_DOMAINS)
DELIVERABLE_EMAIL_PATTERN = f"^(?!.*@(?:.*\\.)?(?:{_ANY_CASE})\\.?$)"


# Pydantic would also read numbers (and digit strings) as Unix times; the API takes only the
# formats its OpenAPI spec states.
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*")


def _formatted(pattern: re.Pattern[str], python_type: type, expected: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, python_type) or (isinstance(value, str) and pattern.fullmatch(value)):
            return value
        raise ValueError(f"must be {expected}")

    return BeforeValidator(check)


Day = Annotated[
    dt.date,
    _formatted(ISO_DAY, dt.date, "a date as YYYY-MM-DD"),
    Field(description="A calendar day of the platform's time zone."),
]
Timestamp = Annotated[AwareDatetime, _formatted(ISO_DATE_TIME, dt.datetime, "an RFC 3339 date-time with a UTC offset")]


# A seller's id in a path (/sellers/{seller_id}/...).
SellerId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]

# Where a paginated list may start: deeper than this is a mistake, not a page.
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """A slice of a list: its items, how many there are in all, and the slice that was asked for."""

    items: list[Item]
    total: int
    limit: int
    offset: int
