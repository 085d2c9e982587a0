"""Property-based run of the app's own OpenAPI spec: every operation, positive and negative data, all
of schemathesis' default checks (no 5xx, documented statuses and bodies, ...).

Requests carry a seller's token, so they get past authentication into the handlers and the database.
The schema is loaded eagerly (schemathesis' lazy `from_fixture` does not run under pytest 9); the
app is pointed at the test database by a fixture, before its first request starts it.
"""

import psycopg
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans

from api.auth.service import issue_access_token
from api.main import configure, create_app
from settlement.config import Settings
from tests.api.conftest import OPS_TOKEN

EXAMPLES_PER_OPERATION = 25

# Signup refuses special-use domains (.test among them), which `format: email` cannot express:
# generate addresses on ordinary domains (invalid addresses still come from the negative cases).
schemathesis.openapi.format(
    "email", st.from_regex(r"[a-z0-9_+-]{1,16}@[a-z0-9]{1,12}\.(com|org|net|io)", fullmatch=True)
)

app = create_app(Settings(_env_file=None, jwt_secret="configured by the fixture below"))
schema = schemathesis.openapi.from_dict(
    app.openapi(),
    config=SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": EXAMPLES_PER_OPERATION},
            # /ops takes the operator's token instead of a user's
            "operations": [{"include-path-regex": "^/ops/", "headers": {"Authorization": f"Bearer {OPS_TOKEN}"}}],
        }
    ),
)
schema.app = app


@pytest.fixture(scope="module", autouse=True)
def app_on_test_database(api_settings, database_url):
    configure(app, api_settings, database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seller_id = conn.execute(
            """INSERT INTO users (email, username, password_hash, role)
               VALUES ('fuzz-seller@example.com', 'fuzz', 'not a hash', 'SELLER')
               ON CONFLICT (email) WHERE email_verified_at IS NOT NULL DO UPDATE SET role = 'SELLER' RETURNING id"""
        ).fetchone()[0]
        conn.execute(
            """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status)
               VALUES ('fuzz ad', 'https://ads.example.com/fuzz', 15, current_date - 1, current_date + 30, 'ACTIVE')"""
        )
    token, _ = issue_access_token(api_settings, app.state.jwt_secret, seller_id)
    schema.config.update(headers={"Authorization": f"Bearer {token}"})
    yield
    shutdown_lifespans()  # closes the app's pool before the test database is dropped


@schema.parametrize()
def test_api_conforms_to_its_openapi_spec(case):
    case.call_and_validate()
