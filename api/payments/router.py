"""Payments, for sellers: the balance and its progress to the payment threshold, the statements (one, and
as CSV), the payment history, the payout account (masked) and the business registration; for operators,
a seller's payout account and its changes (masked too).

A seller reads and writes only their own (403 otherwise). Amounts are whole won (KRW). Account numbers
are never answered whole: the last four digits and stars.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.auth.dependencies import CurrentUser, require_own_seller_data
from api.database import Connection, ResultsConnection
from api.errors import UNAVAILABLE, Responses, error_responses, not_found
from api.ops.dependencies import require_ops_token
from api.payments import schemas, service
from api.schemas import BIGINT_MAX, SellerId

router = APIRouter(tags=["payments"])
ops_router = APIRouter(prefix="/ops", tags=["ops"], dependencies=[Depends(require_ops_token)])
StatementNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="The seller's statement number (1, 2, ...).")]
CSV_ANSWER: Responses = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The statement as CSV."}}


@router.get(
    "/sellers/{seller_id}/balance", response_model=schemas.BalanceOut, responses={**error_responses(401, 403), **UNAVAILABLE}
)
async def balance(seller_id: SellerId, user: CurrentUser, conn: ResultsConnection) -> schemas.BalanceOut:
    """The seller's balance and the progress to the payment threshold: what issued statements carry over,
    what awaits a payment run, and (estimated) what the days since will add, less its withholding."""
    require_own_seller_data(user, seller_id)
    return schemas.BalanceOut(**await service.balance(conn, seller_id))


@router.get(
    "/sellers/{seller_id}/statements",
    response_model=schemas.StatementListOut,
    responses={**error_responses(401, 403), **UNAVAILABLE},
)
async def statements(seller_id: SellerId, user: CurrentUser, conn: ResultsConnection) -> schemas.StatementListOut:
    """Every statement of the seller, newest first, with what became of it (paid, awaiting payment,
    returned, carried over and why)."""
    require_own_seller_data(user, seller_id)
    return schemas.StatementListOut(**await service.statements(conn, seller_id))


async def own_statement(conn: AsyncConnection[DictRow], user: DictRow, seller_id: int, number: int) -> dict[str, Any]:
    require_own_seller_data(user, seller_id)
    shown = await service.statement(conn, seller_id, number)
    if shown is None:
        raise not_found(f"no statement {seller_id}-{number}")
    return shown


@router.get(
    "/sellers/{seller_id}/statements/{number}",
    response_model=schemas.StatementOut,
    responses={**error_responses(401, 403, 404), **UNAVAILABLE},
)
async def statement(
    seller_id: SellerId, number: StatementNumber, user: CurrentUser, conn: ResultsConnection
) -> schemas.StatementOut:
    """One statement: carried balance, payouts of the month's closed days, adjustments booked on them,
    gross, income tax and local income tax (each truncated to 10 KRW), net, payable or carried over and
    why; its lines per video and per adjustment; the account (masked) and the payment."""
    return schemas.StatementOut(**await own_statement(conn, user, seller_id, number))


@router.get(
    "/sellers/{seller_id}/statements/{number}/csv",
    response_class=Response,
    responses={**CSV_ANSWER, **error_responses(401, 403, 404), **UNAVAILABLE},
)
async def statement_csv(seller_id: SellerId, number: StatementNumber, user: CurrentUser, conn: ResultsConnection) -> Response:
    """The statement as a CSV file (no cell starts a spreadsheet formula)."""
    shown = await own_statement(conn, user, seller_id, number)
    return Response(
        service.statement_csv(shown),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="statement-{shown["statement"]}.csv"'},
    )


@router.get(
    "/sellers/{seller_id}/payments", response_model=schemas.PaymentsOut, responses={**error_responses(401, 403), **UNAVAILABLE}
)
async def payments(seller_id: SellerId, user: CurrentUser, conn: ResultsConnection) -> schemas.PaymentsOut:
    """The seller's payment history, newest first: each transfer, its statement, the account (masked), and
    any return by the bank."""
    require_own_seller_data(user, seller_id)
    return schemas.PaymentsOut(**await service.payment_history(conn, seller_id))


@router.get("/sellers/{seller_id}/payout-account", response_model=schemas.PayoutAccountOut, responses=error_responses(401, 403))
async def payout_account(seller_id: SellerId, user: CurrentUser, conn: Connection) -> schemas.PayoutAccountOut:
    """The payout account in force, masked (null before one is registered)."""
    require_own_seller_data(user, seller_id)
    return schemas.PayoutAccountOut(**await service.payout_account(conn, seller_id))


@router.put("/sellers/{seller_id}/payout-account", response_model=schemas.PayoutAccountOut, responses=error_responses(401, 403))
async def register_payout_account(
    seller_id: SellerId, body: schemas.PayoutAccountIn, user: CurrentUser, conn: Connection
) -> schemas.PayoutAccountOut:
    """Registers the account the seller is paid to (it replaces the one before; every change is kept).
    Payment runs pay to the account in force when they run; after the bank returned a transfer, the
    account must be registered again."""
    require_own_seller_data(user, seller_id)
    return schemas.PayoutAccountOut(
        **await service.register_payout_account(conn, seller_id, body.holder, body.bank_code, body.account_number)
    )


@router.get(
    "/sellers/{seller_id}/business-registration",
    response_model=schemas.BusinessRegistrationOut,
    responses=error_responses(401, 403),
)
async def business_registration(seller_id: SellerId, user: CurrentUser, conn: Connection) -> schemas.BusinessRegistrationOut:
    """Whether the seller is registered as a business (nothing withheld) or an individual (3.3 %)."""
    require_own_seller_data(user, seller_id)
    return schemas.BusinessRegistrationOut(**await service.business_registration(conn, seller_id))


@router.put(
    "/sellers/{seller_id}/business-registration",
    response_model=schemas.BusinessRegistrationOut,
    responses=error_responses(401, 403),
)
async def register_business(
    seller_id: SellerId, body: schemas.BusinessRegistrationIn, user: CurrentUser, conn: Connection
) -> schemas.BusinessRegistrationOut:
    """Registers a business number (null: an individual again). It applies from the next statement issued."""
    require_own_seller_data(user, seller_id)
    return schemas.BusinessRegistrationOut(**await service.register_business(conn, seller_id, body.business_number))


@ops_router.get(
    "/sellers/{seller_id}/payout-account", response_model=schemas.PayoutAccountHistoryOut, responses=error_responses(401, 403)
)
async def ops_payout_account(
    seller_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)], conn: Connection
) -> schemas.PayoutAccountHistoryOut:
    """A seller's payout account and every change to it, masked (the whole number is only in the payment
    run's transfer file)."""
    return schemas.PayoutAccountHistoryOut(**await service.payout_account(conn, seller_id, history=True))
