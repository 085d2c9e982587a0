import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from api.stats.schemas import Currency, Won

StatementRef = Annotated[str, Field(description="The statement as the transfer file names it: <seller>-<number>, e.g. 17-3.")]
HOLDER_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,60}$"


class SellerKind(StrEnum):
    INDIVIDUAL = "individual"
    BUSINESS = "business"


class PaymentStatus(StrEnum):
    CARRIED_OVER = "carried_over"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    RETURNED = "returned"


PAYMENT_STATUS = (
    "carried_over: below the threshold, no payout account or on hold, the net is carried to the next "
    "statement (carry_reason says why); awaiting_payment: payable, not paid by a payment run yet; paid; "
    "returned: paid, and the bank returned the transfer: the amount is back in the balance (returned_onto: "
    "the statement that took it back, once issued)."
)


class MaskedAccountOut(BaseModel):
    holder: str
    bank_code: str = Field(description="The bank's three-digit code.")
    account_number_masked: str = Field(description="All but the last four digits as stars.")


class BalanceOut(BaseModel):
    seller_id: int
    currency: Currency
    seller_kind: SellerKind = Field(
        description="business once a business number is registered (nothing withheld), else individual."
    )
    balance: Won = Field(
        description="Owed by issued statements and not payable yet: carried over, and returned transfers not on a statement yet."
    )
    awaiting_payment: Won = Field(description="Payable statements a payment run has not paid yet.")
    statements_awaiting_payment: int
    unstated_closed: Won = Field(description="Closed (final) days no statement has taken yet: on the next statement.")
    estimated_open: Won = Field(description="Settled days not closed yet (estimated, may change with late events).")
    estimated_withholding: Won = Field(description="The withholding those would bear at the seller's rates.")
    projected_net: Won = Field(description="balance + unstated_closed + estimated_open - estimated_withholding.")
    threshold: Won | None = Field(
        description="A statement's net is paid once it reaches this (null before the engine settled a day)."
    )
    progress_percent: int = Field(
        ge=0, le=100, description="projected_net / threshold, in whole percent (truncated), at most 100."
    )
    on_hold: bool
    hold_reason: str | None
    has_payout_account: bool = Field(description="A payout account is registered and the bank returned no transfer to it.")
    last_statement: StatementRef | None
    paid_total: Won = Field(description="Transferred so far (returned transfers excluded).")
    withheld_total: Won = Field(description="Withheld on the statements so far.")
    income_tax_rate: Decimal | None = Field(
        description="The income tax rate for the seller's kind now (0.03 is 3 %); null before the engine settled a day."
    )
    local_income_tax_rate: Decimal | None = Field(description="The local income tax rate now (0.003 is 0.3 %).")
    income_tax_unit: Won | None = Field(description="Income tax is truncated to a multiple of this (KRW).")
    local_income_tax_unit: Won | None = Field(description="Local income tax is truncated to a multiple of this (KRW).")


class StatementSummaryOut(BaseModel):
    statement: StatementRef
    number: int
    month: str = Field(description="YYYY-MM.")
    issued_at: dt.datetime
    gross: Won
    withholding: Won
    net: Won
    payable: bool
    amount_payable: Won
    carried_out: Won
    carry_reason: str | None
    payment_status: PaymentStatus = Field(description=PAYMENT_STATUS)
    paid_at: dt.datetime | None
    returned_at: dt.datetime | None


class StatementListOut(BaseModel):
    seller_id: int
    currency: Currency
    statements: list[StatementSummaryOut] = Field(description="Newest first.")


class PayoutLineOut(BaseModel):
    video_id: int
    title: str | None
    days: int = Field(description="Closed days of the month the video earned on.")
    views: int
    video_payout: Won
    ad_payout: Won
    amount: Won


class AdjustmentLineOut(BaseModel):
    video_id: int
    title: str | None
    booked_on: dt.date = Field(description="The open day it was booked on (a day of this statement).")
    belongs_to: dt.date = Field(description="The closed day whose payout changed.")
    amount: Won
    reason: str


class StatementOut(StatementSummaryOut):
    seller_id: int
    currency: Currency
    carried_in: Won = Field(description="Carried from the previous statement.")
    returned_in: Won = Field(description="Returned transfers taken back into the balance.")
    payouts: Won = Field(description="Payouts of the month's closed days.")
    adjustments: Won = Field(description="Adjustments booked on those days (late events for earlier closed days).")
    income_tax: Won
    local_income_tax: Won
    income_tax_rate: Decimal = Field(description="e.g. 0.03 (3 %).")
    local_income_tax_rate: Decimal = Field(description="e.g. 0.003 (0.3 %).")
    income_tax_unit: Won = Field(description="Income tax was truncated to a multiple of this (KRW).")
    local_income_tax_unit: Won = Field(description="Local income tax was truncated to a multiple of this (KRW).")
    seller_kind: SellerKind
    business_number: str | None
    threshold: Won
    account: MaskedAccountOut | None = Field(description="The account paid to (or, before, the one registered when issued).")
    returned_onto: StatementRef | None
    return_reason: str | None
    payout_lines: list[PayoutLineOut]
    adjustment_lines: list[AdjustmentLineOut]


class PaymentOut(BaseModel):
    payment_id: int
    statement: StatementRef
    month: str
    amount: Won
    paid_at: dt.datetime
    run_id: int
    account: MaskedAccountOut
    returned_at: dt.datetime | None
    return_reason: str | None
    returned_onto: StatementRef | None


class PaymentsOut(BaseModel):
    seller_id: int
    currency: Currency
    payments: list[PaymentOut] = Field(description="Newest first.")


class PayoutAccountIn(BaseModel):
    holder: Annotated[str, Field(pattern=HOLDER_PATTERN, description="The account holder's name, 1 to 60 characters.")]
    bank_code: Annotated[str, Field(pattern="^[0-9]{3}$", description="The bank's three-digit code, e.g. 004.")]
    account_number: Annotated[str, Field(pattern="^[0-9]{6,20}$", description="Digits only, 6 to 20.")]


class PayoutAccountOut(BaseModel):
    seller_id: int
    account: MaskedAccountOut | None = Field(description="The account in force, masked; null before one is registered.")
    registered_at: dt.datetime | None
    changes: int = Field(description="How many times an account was registered (every change is kept).")


class AccountChangeOut(MaskedAccountOut):
    registered_at: dt.datetime
    registered_by: str


class PayoutAccountHistoryOut(PayoutAccountOut):
    history: list[AccountChangeOut] = Field(description="Every account registered, newest first, masked.")


class BusinessRegistrationIn(BaseModel):
    business_number: Annotated[
        str | None, Field(pattern="^[0-9]{3}-[0-9]{2}-[0-9]{5}$", description="NNN-NN-NNNNN; null: an individual again.")
    ]


class BusinessRegistrationOut(BaseModel):
    seller_id: int
    seller_kind: SellerKind = Field(description="business: nothing is withheld from its statements from the next one on.")
    business_number: str | None
