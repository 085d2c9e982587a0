import httpx
import pytest

from api.main import create_app
from tests.api.conftest import verify_email
from tests.ops.conftest import OPS_TOKEN, settings_for

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}


async def test_runs_are_listed_newest_first_with_duration_rows_and_error(client, runs):
    older = runs(
        "2026-03-01",
        started_at="2026-03-02 00:30:00+09",
        seconds=12.5,
        row_counts='{"fct_video_daily": 40, "fct_video_ad_daily": 2}',
        quarantined='{"watch_events": {"future_timestamp": 3}}',
    )
    newer = runs(
        "2026-03-02",
        status="FAILED",
        started_at="2026-03-03 00:30:00+09",
        seconds=3,
        error="fct_video_daily: division by zero",
        trigger="manual",
    )
    running = runs("2026-03-03", status="RUNNING", started_at="2026-03-04 00:30:00+09")

    response = await client.get("/ops/runs", headers=AUTH)

    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert [run["id"] for run in page["items"]] == [running, newer, older]
    running_run, failed, succeeded = page["items"]
    assert (running_run["status"], running_run["finished_at"], running_run["seconds"]) == ("RUNNING", None, None)
    assert failed | {"started_at": None, "finished_at": None} == {
        "id": newer,
        "run_date": "2026-03-02",
        "trigger": "manual",
        "status": "FAILED",
        "started_at": None,
        "finished_at": None,
        "seconds": 3.0,
        "rows": 0,
        "row_counts": {},
        "quarantined": {},
        "error": "fct_video_daily: division by zero",
    }
    assert (succeeded["seconds"], succeeded["rows"]) == (12.5, 42)
    assert succeeded["row_counts"] == {"fct_video_daily": 40, "fct_video_ad_daily": 2}
    assert succeeded["quarantined"] == {"watch_events": {"future_timestamp": 3}}
    assert succeeded["started_at"].startswith("2026-03-01T15:30:00")


async def test_runs_filter_by_date_and_status_and_paginate(client, runs):
    ids = [runs("2026-03-01", started_at=f"2026-03-02 0{hour}:00:00+09") for hour in range(5)]
    failed = runs("2026-03-01", status="FAILED", started_at="2026-03-02 06:00:00+09")
    other_day = runs("2026-03-02", started_at="2026-03-03 00:30:00+09")

    async def ids_of(**params):
        response = await client.get("/ops/runs", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return response.json()["total"], [run["id"] for run in response.json()["items"]]

    assert await ids_of(date="2026-03-02") == (1, [other_day])
    assert await ids_of(status="FAILED") == (1, [failed])
    assert await ids_of(date="2026-03-01", status="SUCCEEDED") == (5, ids[::-1])
    assert await ids_of(date="2026-03-01", limit=2) == (6, [failed, ids[4]])
    assert await ids_of(date="2026-03-01", limit=2, offset=2) == (6, [ids[3], ids[2]])
    assert await ids_of(date="2026-03-01", limit=2, offset=6) == (6, [])


@pytest.mark.parametrize("params", [{"status": "DONE"}, {"date": "yesterday"}, {"limit": 0}, {"limit": 201}, {"offset": -1}])
async def test_bad_filters_are_rejected(client, params):
    response = await client.get("/ops/runs", params=params, headers=AUTH)
    assert response.status_code == 422


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {OPS_TOKEN}"}, {"Authorization": OPS_TOKEN}],
)
async def test_runs_need_the_operator_token(client, runs, headers):
    runs("2026-03-01")
    response = await client.get("/ops/runs", headers=headers)
    assert response.status_code == 401
    assert "SETTLEMENT_OPS_TOKEN" in response.json()["detail"]
    assert "items" not in response.json()


async def test_a_user_login_token_is_not_an_operator_token(client, conn):
    signup = await client.post("/auth/signup", json={"email": "op@example.com", "password": "correct horse", "username": "op"})
    assert signup.status_code == 201, signup.text
    assert (await verify_email(client, conn, "op@example.com")).status_code == 200
    login = await client.post("/auth/login", json={"email": "op@example.com", "password": "correct horse"})
    response = await client.get("/ops/runs", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert response.status_code == 401


@pytest.mark.parametrize("configured", [{}, {"ops_token": ""}], ids=["unset", "empty"])
async def test_without_a_configured_token_the_endpoint_is_off(database_url, runs, configured):
    app = create_app(settings_for(database_url, **configured))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        for headers in ({}, AUTH):
            response = await http.get("/ops/runs", headers=headers)
            assert response.status_code == 403
            assert "set SETTLEMENT_OPS_TOKEN" in response.json()["detail"]


async def test_the_endpoint_is_documented_with_its_bearer_scheme(client):
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/ops/runs"]["get"]
    assert {"401", "403", "200"} <= set(operation["responses"])
    assert operation["security"]
