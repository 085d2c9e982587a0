import datetime as dt

import jwt

from api.auth.passwords import Passwords
from api.auth.service import ACCESS_PURPOSE, JWT_ALGORITHM
from api.config import ApiSettings
from settlement import clock
from tests.api.conftest import SERVER_HASHING, verify_email


async def test_signup_login_and_me(client, conn):
    signup = await client.post(
        "/auth/signup", json={"email": "Mina@Example.com", "password": "correct horse", "username": " mina "}
    )
    assert signup.status_code == 201, signup.text
    user = signup.json()
    assert user["email"] == "mina@example.com" and user["username"] == "mina" and user["role"] == "USER"
    assert "password_hash" not in user
    stored = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user["id"],)).fetchone()[0]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert user["email_verified"] is False

    assert (await verify_email(client, conn, "mina@example.com")).status_code == 200
    login = await client.post("/auth/login", json={"email": "mina@example.com", "password": "correct horse"})
    assert login.status_code == 200
    token = login.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 60 * 60

    me = await client.get("/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == user["id"]


async def test_duplicate_email_is_a_conflict(client, conn):
    body = {"email": "twice@example.com", "password": "correct horse", "username": "t"}
    assert (await client.post("/auth/signup", json=body)).status_code == 201
    assert (await verify_email(client, conn, body["email"])).status_code == 200  # an unverified one is no conflict
    again = await client.post("/auth/signup", json={**body, "email": "TWICE@example.com"})
    assert again.status_code == 409 and "already registered" in again.json()["detail"]


async def test_wrong_password_or_unknown_email_is_401(client, make_account):
    account = await make_account()
    wrong = await client.post("/auth/login", json={"email": account.email, "password": "not the one"})
    unknown = await client.post("/auth/login", json={"email": "nobody@example.com", "password": "correct horse"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong email or password"


async def test_signup_validation_errors_say_what_is_wrong(client):
    response = await client.post("/auth/signup", json={"email": "not-an-email", "password": "short", "username": ""})
    assert response.status_code == 422
    problems = {error["loc"][-1]: error["msg"] for error in response.json()["detail"]}
    assert set(problems) == {"email", "password", "username"}
    assert "8 characters" in problems["password"]

    nul = await client.post("/auth/signup", json={"email": "a@example.com", "password": "correct horse", "username": "a\u0000b"})
    assert nul.status_code == 422 and "NUL" in nul.json()["detail"][0]["msg"]


async def test_me_needs_a_valid_unexpired_token(client, make_account, api_settings):
    account = await make_account()
    assert (await client.get("/me")).status_code == 401
    assert (await client.get("/me", headers={"Authorization": "Bearer garbage"})).status_code == 401
    secret = api_settings.jwt_secret.get_secret_value()
    past = clock.now() - dt.timedelta(hours=2)
    expired = jwt.encode(
        {"sub": str(account.id), "purpose": ACCESS_PURPOSE, "iat": past, "exp": past + dt.timedelta(hours=1)},
        secret,
        algorithm=JWT_ALGORITHM,
    )
    response = await client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    forged = jwt.encode(
        {"sub": str(account.id), "purpose": ACCESS_PURPOSE, "exp": clock.now() + dt.timedelta(hours=1)},
        "another secret, just as long as the real one",
    )
    assert (await client.get("/me", headers={"Authorization": f"Bearer {forged}"})).status_code == 401


async def test_a_user_becomes_a_seller_by_an_explicit_call(client, make_account):
    account = await make_account()
    assert (await client.get("/me", headers=account.headers)).json()["role"] == "USER"
    first = await client.post("/me/seller", headers=account.headers)
    second = await client.post("/me/seller", headers=account.headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["role"] == second.json()["role"] == "SELLER"


async def test_logout_ends_the_token_everywhere_before_it_expires(client, make_account):
    account = await make_account()
    other_device = await client.post("/auth/login", json={"email": account.email, "password": "correct horse"})
    other = {"Authorization": f"Bearer {other_device.json()['access_token']}"}
    out = await client.post("/auth/logout", headers=account.headers)
    assert out.status_code == 204 and out.content == b""
    assert (await client.get("/me", headers=account.headers)).status_code == 401
    assert (await client.post("/auth/logout", headers=account.headers)).status_code == 401
    assert (await client.get("/me", headers=other)).status_code == 200  # another session goes on
    assert (await client.post("/auth/logout")).status_code == 401


async def test_sessions_live_in_the_database_and_expired_ones_are_cleared(client, make_account, conn):
    account = await make_account()
    [(live,)] = conn.execute("SELECT count(*) FROM auth_sessions WHERE user_id = %s", (account.id,)).fetchall()
    assert live == 1
    conn.execute("UPDATE auth_sessions SET expires_at = settlement_now() - interval '1 second'")
    assert (await client.get("/me", headers=account.headers)).status_code == 401  # the row decides, not only the token
    await client.post("/auth/login", json={"email": account.email, "password": "correct horse"})
    assert conn.execute("SELECT count(*) FROM auth_sessions WHERE expires_at <= settlement_now()").fetchone()[0] == 0


async def test_a_server_hashes_passwords_at_argon2ids_full_cost():
    """The suite's apps hash at the least cost (tests/api/conftest.py); a server, with the defaults, at 64 MiB
    and 3 passes of one lane, which is what SERVER_HASHING gives the tests of that cost."""
    settings = ApiSettings(_env_file=None)
    assert SERVER_HASHING == {"password_hash_time_cost": 3, "password_hash_memory_kib": 64 * 1024}
    passwords = Passwords(settings)
    try:
        stored = await passwords.hash("correct horse")
    finally:
        passwords.close()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$"), stored
