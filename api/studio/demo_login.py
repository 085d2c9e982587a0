"""A studio login for the demo (`settlement demo` prints it): the demo's top-earning seller gets a known
password, hashed as /auth/signup hashes one."""

import asyncio

import psycopg
from psycopg import sql

from api.auth.passwords import Passwords
from api.config import get_api_settings
from settlement.warehouse import relation

DEMO_SELLER_PASSWORD = "studio-demo"  # noqa: S105 (the demo database's published sign-in, printed by `make demo`)


def seller_login(database_url: str, password: str = DEMO_SELLER_PASSWORD) -> tuple[str, str]:
    """(email, password) of the seller who earned most over the settled days, after setting that
    password on them (hashed as /auth/signup hashes one)."""
    passwords = Passwords(get_api_settings())
    try:
        password_hash = asyncio.run(passwords.hash(password))
    finally:
        passwords.close()
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            sql.SQL("""
            WITH top_seller AS (
                SELECT seller_id FROM {payable}
                GROUP BY seller_id ORDER BY sum(video_payout + ad_payout + adjustment) DESC, seller_id LIMIT 1
            )
            UPDATE users SET password_hash = %s, email_verified = true FROM top_seller WHERE users.id = top_seller.seller_id
            RETURNING users.email
            """).format(payable=relation("fct_video_payable_daily")),
            (password_hash,),
        ).fetchone()
    if row is None:
        raise LookupError("no seller has settled results yet: settle a day first")
    return row[0], password
