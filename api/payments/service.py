"""A seller's payments, read from the payments marts (models/marts/payments: views over what was issued
and paid, and the closed days), and the seller's own writes: the payout account and the business
registration (insert-only rows: every change is kept). Account numbers are read masked only: no query
here selects payout_accounts.account_number."""

import datetime as dt
import logging
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.database import one_row
from api.stats.service import results_unavailable
from settlement.payments import write_csv
from settlement.warehouse import ANALYTICS_SCHEMA, analytics_sql

log = logging.getLogger(__name__)
MODELS = ("fct_seller_balances", "fct_seller_statements", "fct_statement_lines", "fct_seller_payments")
MASKED = "repeat('*', greatest(length(account_number) - 4, 0)) || right(account_number, 4)"


async def models_built(conn: AsyncConnection[DictRow]) -> bool:
    """Whether the payments marts are there. Before the engine settled any day none is, and a seller has
    nothing yet; once a day is settled they must be (503 otherwise, the operator told in the log)."""
    cursor = await conn.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(format('%%I.%%I', %s::text, name)) IS NULL",
        (list(MODELS), ANALYTICS_SCHEMA),
    )
    missing = [row["name"] for row in await cursor.fetchall()]
    if not missing:
        return True
    cursor = await conn.execute("SELECT EXISTS (SELECT 1 FROM settled_days) AS settled")
    if (await one_row(cursor))["settled"]:
        log.error(
            "payments cannot be read: %s missing (settle a day: `settlement run`)",
            ", ".join(f"{ANALYTICS_SCHEMA}.{name}" for name in missing),
        )
        raise results_unavailable()
    return False


def month_text(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def masked(row: DictRow) -> dict[str, Any] | None:
    if row.get("holder") is None:
        return None
    return account_fields(row)


def account_fields(row: DictRow) -> dict[str, Any]:
    """A payout account's fields, masked (a row of payout_accounts, or of a join that found one)."""
    return {"holder": row["holder"], "bank_code": row["bank_code"], "account_number_masked": row["account_number_masked"]}


async def balance(conn: AsyncConnection[DictRow], seller_id: int) -> dict[str, Any]:
    row = None
    if await models_built(conn):
        cursor = await conn.execute(
            analytics_sql("""SELECT seller_kind, balance, awaiting_payment, statements_awaiting_payment, unstated_closed, estimated_open,
                      estimated_withholding, projected_net, threshold, progress, on_hold, hold_reason, has_payout_account,
                      last_statement_ref, paid_total, withheld_total, income_tax_rate, local_income_tax_rate,
                      income_tax_unit, local_income_tax_unit
               FROM {fct_seller_balances} WHERE seller_id = %s"""),
            (seller_id,),
        )
        row = await cursor.fetchone()
    if row is None:  # nothing settled yet
        return {
            "seller_id": seller_id, "currency": "KRW", "seller_kind": "individual", "balance": 0, "awaiting_payment": 0,
            "statements_awaiting_payment": 0, "unstated_closed": 0, "estimated_open": 0, "estimated_withholding": 0,
            "projected_net": 0, "threshold": None, "progress_percent": 0, "on_hold": False, "hold_reason": None,
            "has_payout_account": False, "last_statement": None, "paid_total": 0, "withheld_total": 0,
            "income_tax_rate": None, "local_income_tax_rate": None, "income_tax_unit": None, "local_income_tax_unit": None,
        }  # fmt: skip
    whole = ("balance", "awaiting_payment", "unstated_closed", "estimated_open", "estimated_withholding", "projected_net",
             "threshold", "paid_total", "withheld_total")  # fmt: skip
    return {
        "seller_id": seller_id,
        "currency": "KRW",
        **{name: int(row[name]) for name in whole},
        "seller_kind": row["seller_kind"],
        "statements_awaiting_payment": row["statements_awaiting_payment"],
        "progress_percent": int(row["progress"] * 100),
        "on_hold": row["on_hold"],
        "hold_reason": row["hold_reason"],
        "has_payout_account": row["has_payout_account"],
        "last_statement": row["last_statement_ref"],
        "income_tax_rate": row["income_tax_rate"],
        "local_income_tax_rate": row["local_income_tax_rate"],
        "income_tax_unit": int(row["income_tax_unit"]),
        "local_income_tax_unit": int(row["local_income_tax_unit"]),
    }


STATEMENT_COLUMNS = """statement_id, statement_ref, statement_number, month, issued_at, carried_in, returned_in, payouts,
    adjustments, gross, income_tax, local_income_tax, withholding, net, payable, amount_payable, carried_out, carry_reason,
    seller_kind, business_number, income_tax_rate, local_income_tax_rate, income_tax_unit, local_income_tax_unit,
    threshold, holder, bank_code,
    account_number_masked, paid_at, returned_at, return_reason, returned_onto, payment_status"""
WHOLE = ("carried_in", "returned_in", "payouts", "adjustments", "gross", "income_tax", "local_income_tax", "withholding",
         "net", "amount_payable", "carried_out", "threshold", "income_tax_unit", "local_income_tax_unit")  # fmt: skip


def statement_fields(row: DictRow) -> dict[str, Any]:
    return {
        **{name: int(row[name]) for name in WHOLE},
        "statement": row["statement_ref"],
        "number": row["statement_number"],
        "month": month_text(row["month"]),
        "issued_at": row["issued_at"],
        "payable": row["payable"],
        "carry_reason": row["carry_reason"],
        "payment_status": row["payment_status"],
        "paid_at": row["paid_at"],
        "returned_at": row["returned_at"],
        "return_reason": row["return_reason"],
        "returned_onto": row["returned_onto"],
        "seller_kind": row["seller_kind"],
        "business_number": row["business_number"],
        "income_tax_rate": row["income_tax_rate"],
        "local_income_tax_rate": row["local_income_tax_rate"],
        "account": masked(row),
    }


async def statements(conn: AsyncConnection[DictRow], seller_id: int) -> dict[str, Any]:
    rows = []
    if await models_built(conn):
        cursor = await conn.execute(
            analytics_sql(
                f"SELECT {STATEMENT_COLUMNS} FROM {{fct_seller_statements}} WHERE seller_id = %s ORDER BY statement_number DESC"
            ),
            (seller_id,),
        )
        rows = await cursor.fetchall()
    return {"seller_id": seller_id, "currency": "KRW", "statements": [statement_fields(row) for row in rows]}


async def statement(conn: AsyncConnection[DictRow], seller_id: int, number: int) -> dict[str, Any] | None:
    """One of the seller's statements with its lines, or None."""
    if not await models_built(conn):
        return None
    cursor = await conn.execute(
        analytics_sql(
            f"SELECT {STATEMENT_COLUMNS} FROM {{fct_seller_statements}} WHERE seller_id = %s AND statement_number = %s"
        ),
        (seller_id, number),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    cursor = await conn.execute(
        analytics_sql("""SELECT l.line_kind, l.video_id, v.title, l.days, l.views, l.video_payout, l.ad_payout, l.amount, l.booked_on,
                  l.belongs_to, l.reason
           FROM {fct_statement_lines} l LEFT JOIN videos v ON v.id = l.video_id
           WHERE l.statement_id = %s AND l.seller_id = %s
           ORDER BY l.line_kind DESC, l.amount DESC, l.video_id, l.booked_on"""),
        (row["statement_id"], seller_id),
    )
    lines = await cursor.fetchall()
    payout_lines = [
        {"video_id": line["video_id"], "title": line["title"], "days": line["days"], "views": int(line["views"]),
         "video_payout": int(line["video_payout"]), "ad_payout": int(line["ad_payout"]), "amount": int(line["amount"])}
        for line in lines if line["line_kind"] == "payout"
    ]  # fmt: skip
    adjustment_lines = [
        {"video_id": line["video_id"], "title": line["title"], "booked_on": line["booked_on"],
         "belongs_to": line["belongs_to"], "amount": int(line["amount"]), "reason": line["reason"]}
        for line in lines if line["line_kind"] == "adjustment"
    ]  # fmt: skip
    return {
        "seller_id": seller_id,
        "currency": "KRW",
        **statement_fields(row),
        "payout_lines": payout_lines,
        "adjustment_lines": adjustment_lines,
    }


def statement_csv(shown: dict[str, Any]) -> str:
    """A statement as CSV: its figures, then its lines. No cell starts a formula (a video's title is the
    seller's own text, and a spreadsheet would run `=...`)."""
    rows = [
        ("statement", shown["statement"], "", "", "", ""),
        ("month", shown["month"], "", "", "", ""),
        ("seller", shown["seller_id"], "", "", "", ""),
        ("seller kind", shown["seller_kind"], "", "", "", ""),
    ]
    for name in ("carried_in", "returned_in", "payouts", "adjustments", "gross", "income_tax", "local_income_tax",
                 "withholding", "net", "amount_payable", "carried_out"):  # fmt: skip
        rows.append((name.replace("_", " "), "", "", "", "", shown[name]))
    rows.append(("payment status", shown["payment_status"], shown["carry_reason"] or "", "", "", ""))
    for line in shown["payout_lines"]:
        rows.append(("payout", line["video_id"], line["title"] or "", f"{line['days']} days", "", line["amount"]))
    for line in shown["adjustment_lines"]:
        rows.append(
            ("adjustment", line["video_id"], line["title"] or "", str(line["booked_on"]), str(line["belongs_to"]), line["amount"])
        )
    return write_csv(("line", "what", "title", "booked on", "belongs to", "amount KRW"), rows)


async def payment_history(conn: AsyncConnection[DictRow], seller_id: int) -> dict[str, Any]:
    rows = []
    if await models_built(conn):
        cursor = await conn.execute(
            analytics_sql("""SELECT payment_id, statement_ref, month, amount, paid_at, run_id, holder, bank_code, account_number_masked,
                      returned_at, return_reason, returned_onto
               FROM {fct_seller_payments} WHERE seller_id = %s ORDER BY paid_at DESC, payment_id DESC"""),
            (seller_id,),
        )
        rows = await cursor.fetchall()
    return {
        "seller_id": seller_id,
        "currency": "KRW",
        "payments": [
            {"payment_id": row["payment_id"], "statement": row["statement_ref"], "month": month_text(row["month"]),
             "amount": int(row["amount"]), "paid_at": row["paid_at"], "run_id": row["run_id"], "account": masked(row),
             "returned_at": row["returned_at"], "return_reason": row["return_reason"], "returned_onto": row["returned_onto"]}
            for row in rows
        ],
    }  # fmt: skip


# ----------------------------------------------------------------------------------------------------
# The seller's own writes (and the operators' read of an account)


async def payout_account(conn: AsyncConnection[DictRow], seller_id: int, history: bool = False) -> dict[str, Any]:
    cursor = await conn.execute(
        f"""SELECT holder, bank_code, {MASKED} AS account_number_masked, registered_at, registered_by
            FROM payout_accounts WHERE seller_id = %s ORDER BY id DESC""",
        (seller_id,),
    )
    rows = await cursor.fetchall()
    answer = {
        "seller_id": seller_id,
        "account": masked(rows[0]) if rows else None,
        "registered_at": rows[0]["registered_at"] if rows else None,
        "changes": len(rows),
    }
    if history:
        answer["history"] = [
            {**account_fields(row), "registered_at": row["registered_at"], "registered_by": row["registered_by"]} for row in rows
        ]
    return answer


async def register_payout_account(
    conn: AsyncConnection[DictRow], seller_id: int, holder: str, bank_code: str, number: str
) -> dict[str, Any]:
    await conn.execute(
        """INSERT INTO payout_accounts (seller_id, holder, bank_code, account_number, registered_by)
           VALUES (%s, %s, %s, %s, %s)""",
        (seller_id, holder, bank_code, number, f"seller {seller_id}"),
    )
    return await payout_account(conn, seller_id)


async def business_registration(conn: AsyncConnection[DictRow], seller_id: int) -> dict[str, Any]:
    cursor = await conn.execute(
        "SELECT business_number FROM seller_tax_registrations WHERE seller_id = %s ORDER BY id DESC LIMIT 1", (seller_id,)
    )
    row = await cursor.fetchone()
    number = row["business_number"] if row else None
    return {"seller_id": seller_id, "seller_kind": "business" if number else "individual", "business_number": number}


async def register_business(conn: AsyncConnection[DictRow], seller_id: int, number: str | None) -> dict[str, Any]:
    await conn.execute(
        "INSERT INTO seller_tax_registrations (seller_id, business_number, registered_by) VALUES (%s, %s, %s)",
        (seller_id, number, f"seller {seller_id}"),
    )
    return await business_registration(conn, seller_id)
