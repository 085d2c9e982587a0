"""Password guessing is throttled per account and per client address (429 with Retry-After), a user
who mistypes a few times is not locked out for long, and hashing is bounded (503 past the queue)."""

import asyncio
import time

from argon2 import PasswordHasher

from tests.api.conftest import SERVER_HASHING, client_of

PASSWORD = "correct horse"


def add_verified_user(conn, email: str, password_hash: str | None = None) -> int:
    return conn.execute(
        "INSERT INTO users (email, username, password_hash) VALUES (%s, 'u', %s) RETURNING id",
        (email, password_hash or PasswordHasher().hash(PASSWORD)),
    ).fetchone()[0]


async def login(client, email: str, password: str):
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_a_burst_of_guesses_on_one_account_is_cut_short(app_with, conn, api_settings):
    """300 wrong passwords, 20 at a time: only the first few reach the password check, and the
    right password right after is refused too."""
    app = await app_with(login_account_limits="5/minute;20/hour")
    add_verified_user(conn, "target@example.com")
    async with client_of(app) as client:
        statuses = []
        for _ in range(15):
            answers = await asyncio.gather(*(login(client, "target@example.com", "guess") for _ in range(20)))
            statuses += [answer.status_code for answer in answers]
        assert statuses.count(401) == 5 and statuses.count(429) == 295
        right = await login(client, "target@example.com", PASSWORD)
    assert right.status_code == 429
    assert 1 <= int(right.headers["retry-after"]) <= 60


async def test_a_user_who_mistypes_survives_and_the_lockout_is_short(app_with, conn):
    app = await app_with(login_account_limits="3 per 2 seconds")
    add_verified_user(conn, "clumsy@example.com")
    async with client_of(app) as client:
        assert [(await login(client, "clumsy@example.com", "typo")).status_code for _ in range(2)] == [401, 401]
        assert (await login(client, "clumsy@example.com", PASSWORD)).status_code == 200  # and forgets the typos
        assert [(await login(client, "clumsy@example.com", "typo")).status_code for _ in range(3)] == [401] * 3
        locked = await login(client, "clumsy@example.com", PASSWORD)
        assert locked.status_code == 429
        await asyncio.sleep(int(locked.headers["retry-after"]) + 0.1)
        assert (await login(client, "clumsy@example.com", PASSWORD)).status_code == 200


async def test_one_address_guessing_across_accounts_is_throttled_others_are_not(app_with, conn):
    app = await app_with(login_address_limits="10/minute")
    add_verified_user(conn, "someone@example.com")
    async with client_of(app, "203.0.113.7") as attacker, client_of(app, "198.51.100.2") as user:
        statuses = [(await login(attacker, f"victim{n}@example.com", "guess")).status_code for n in range(12)]
        assert statuses == [401] * 10 + [429] * 2
        assert (await login(user, "someone@example.com", PASSWORD)).status_code == 200


async def test_signups_are_throttled_per_address(app_with):
    app = await app_with(signup_address_limits="2/hour")
    async with client_of(app, "203.0.113.9") as client:
        statuses = [
            (
                await client.post("/auth/signup", json={"email": f"s{n}@example.com", "password": PASSWORD, "username": "s"})
            ).status_code
            for n in range(3)
        ]
    assert statuses == [201, 201, 429]


async def test_hashing_past_its_queue_answers_503(app_with, conn):
    app = await app_with(password_hash_concurrency=1, password_hash_max_waiting=1, **SERVER_HASHING)
    for n in range(6):
        add_verified_user(conn, f"queued{n}@example.com")
    async with client_of(app) as client:
        answers = await asyncio.gather(*(login(client, f"queued{n}@example.com", "guess") for n in range(6)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(401) >= 2 and 503 in statuses, statuses
    assert all(answer.headers.get("retry-after") for answer in answers if answer.status_code == 503)


async def test_a_login_rehashes_a_password_stored_with_other_parameters(client, conn, api_settings):
    old_hash = PasswordHasher(parallelism=4).hash(PASSWORD)
    user_id = add_verified_user(conn, "old@example.com", old_hash)
    assert (await login(client, "old@example.com", PASSWORD)).status_code == 200
    new_hash = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()[0]
    assert new_hash != old_hash and f"p={api_settings.password_hash_parallelism}" in new_hash
    assert (await login(client, "old@example.com", PASSWORD)).status_code == 200  # the new hash works


async def test_a_refused_attempt_costs_no_hash(app_with, conn):
    app = await app_with(login_account_limits="1/minute", **SERVER_HASHING)
    add_verified_user(conn, "cheap@example.com")
    async with client_of(app) as client:
        assert (await login(client, "cheap@example.com", "guess")).status_code == 401
        started = time.perf_counter()
        refused = [await login(client, "cheap@example.com", "guess") for _ in range(20)]
        seconds = time.perf_counter() - started
    assert {answer.status_code for answer in refused} == {429}
    assert seconds < 20 * 0.05, f"20 refusals took {seconds:.2f} s: they are hashing"


async def test_two_api_processes_count_the_same_attempts(app_with, conn):
    """`settlement serve` runs a process per core: a guesser spread over them gets no more tries, and
    a lockout holds on every process (two apps here, each with its own state, on one database)."""
    first = await app_with(login_account_limits="5/minute")
    second = await app_with(login_account_limits="5/minute")
    add_verified_user(conn, "spread@example.com")
    async with client_of(first) as one, client_of(second) as other:
        statuses = []
        for _ in range(6):
            answers = await asyncio.gather(*(login(client, "spread@example.com", "guess") for client in (one, other) * 2))
            statuses += [answer.status_code for answer in answers]
        assert statuses.count(401) == 5 and statuses.count(429) == 19
        assert (await login(other, "spread@example.com", PASSWORD)).status_code == 429
        assert (await login(one, "spread@example.com", PASSWORD)).status_code == 429


async def test_the_counts_live_in_the_database_and_expire(app_with, conn):
    app = await app_with(signup_address_limits="2 per 6 seconds")
    async with client_of(app, "203.0.113.20") as client:
        signup = {"password": PASSWORD, "username": "s"}
        answers = [await client.post("/auth/signup", json={**signup, "email": f"e{n}@example.com"}) for n in range(3)]
        assert [answer.status_code for answer in answers] == [201, 201, 429]
        counted = "SELECT array_agg(attempted_at ORDER BY attempted_at) FROM throttle_attempts WHERE key = 'signup-address/203.0.113.20'"
        _first, second = conn.execute(counted).fetchone()[0]
        await asyncio.sleep(int(answers[-1].headers["retry-after"]) + 0.1)
        assert (await client.post("/auth/signup", json={**signup, "email": "e3@example.com"})).status_code == 201
    # the expired first attempt went when the last was admitted
    assert conn.execute(counted).fetchone()[0][:-1] in ([], [second])
