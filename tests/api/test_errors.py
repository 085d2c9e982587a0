"""Error responses the schemathesis run asked for, pinned down."""


async def test_a_body_that_is_not_utf8_is_a_validation_error(client):
    response = await client.post("/auth/login", content=b'{"email": "\xff"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "the body is not UTF-8 encoded JSON"


async def test_method_not_allowed_lists_every_method_of_the_path(client):
    response = await client.delete("/videos")
    assert response.status_code == 405
    assert {method.strip() for method in response.headers["allow"].split(",")} >= {"GET", "POST"}


async def test_dates_and_times_only_in_their_documented_formats(client, make_account):
    # Pydantic alone would read 0 as 1970-01-01 (a Unix time).
    assert (await client.get("/rankings", params={"period": "day", "date": "0"})).status_code == 422
    viewer = await make_account()
    body = {"event_id": "8c0d1b52-1f2e-4a35-9d38-3b8f3c1f0e11", "occurred_at": 1_700_000_000}
    response = await client.post("/videos/1/playback/start", json=body, headers=viewer.headers)
    assert response.status_code == 422 and "RFC 3339" in response.json()["detail"][0]["msg"]


async def test_numbers_must_be_json_integers(client, make_account):
    seller = await make_account("seller", seller=True)
    body = {"title": "t", "video_url": "https://cdn.example.com/t.mp4"}
    for duration in ("600", 600.5, True):
        response = await client.post("/videos", json={**body, "duration_seconds": duration}, headers=seller.headers)
        assert response.status_code == 422, duration
    # 600.0 is the JSON integer 600, as JSON Schema's "integer" (the spec) says (issue 13)
    whole = await client.post("/videos", json={**body, "duration_seconds": 600.0}, headers=seller.headers)
    assert whole.status_code == 201 and whole.json()["duration_seconds"] == 600


async def test_text_that_postgresql_cannot_store_or_that_is_blank_is_refused(client, make_account):
    seller = await make_account("seller", seller=True)
    body = {"video_url": "https://cdn.example.com/t.mp4", "duration_seconds": 60}
    nul = await client.post("/videos", json={**body, "title": "a\u0000b"}, headers=seller.headers)
    blank = await client.post("/videos", json={**body, "title": "\u3000\u001f "}, headers=seller.headers)
    assert nul.json()["detail"][0]["msg"] == "Value error, must not contain NUL characters"
    assert blank.json()["detail"][0]["msg"] == "Value error, must not be blank"
    trimmed = await client.post("/videos", json={**body, "title": "  spaced  "}, headers=seller.headers)
    assert trimmed.json()["title"] == "spaced"


def test_the_spec_states_the_rules_signup_and_playback_apply():
    """What JSON Schema can say is in the schema (the special-use domains signup refuses, as a
    pattern); what it cannot (an event time relative to the server's clock) is in the description."""
    import re

    import email_validator

    from api.config import ApiSettings
    from api.main import create_app
    from api.schemas import DELIVERABLE_EMAIL_PATTERN, SPECIAL_USE_DOMAINS

    assert set(SPECIAL_USE_DOMAINS) == set(email_validator.SPECIAL_USE_DOMAIN_NAMES)
    spec = create_app(ApiSettings(_env_file=None, jwt_secret="only the spec is read")).openapi()
    schemas = spec["components"]["schemas"]
    assert schemas["SignupIn"]["properties"]["email"]["pattern"] == DELIVERABLE_EMAIL_PATTERN
    assert not re.search(DELIVERABLE_EMAIL_PATTERN, "someone@mail.TEST")
    assert re.search(DELIVERABLE_EMAIL_PATTERN, "test@example.com")
    for event in ("StartIn", "PositionIn"):
        described = schemas[event]["properties"]["occurred_at"]["description"]
        assert "SETTLEMENT_PLAYBACK_MAX_EVENT_AGE_HOURS" in described and "422" in described
