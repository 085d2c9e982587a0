"""The docs pages load everything from this server (no CDN: they work offline), and the probes
tell an orchestrator whether the process is up (/healthz) and can serve (/readyz)."""

import re

import httpx

from api.main import create_app
from settlement import migrations
from tests.api.conftest import BASE_URL

ASSET = re.compile(r"""(?:src|href)\s*[=:]\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


async def test_the_docs_pages_load_only_from_this_server(client):
    for page in ("/docs", "/redoc"):
        html = await client.get(page)
        assert html.status_code == 200
        assets = [next(filter(None, match)) for match in ASSET.findall(html.text)]
        assert any(asset.endswith(".js") for asset in assets), (page, assets)
        for asset in assets:
            assert asset.startswith("/") and not asset.startswith("//"), f"{page} loads {asset} from elsewhere"
            answer = await client.get(asset)
            assert answer.status_code == 200 and answer.content, asset
        assert "cdn." not in html.text and "https://" not in html.text, page


async def test_healthz_says_the_process_is_up(client):
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_says_the_database_answers_at_the_current_schema(client):
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def probe(app, path: str = "/readyz") -> httpx.Response:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client,
    ):
        return await client.get(path)


async def test_readyz_refuses_a_database_behind_the_code(api_settings, fresh_database):
    behind = fresh_database()
    migrations.upgrade(behind, "0007")
    response = await probe(create_app(api_settings, behind))
    assert (response.status_code, response.json()) == (503, {"status": "database schema not current"})


async def test_readyz_refuses_when_the_database_does_not_answer(api_settings, database_url):
    app = create_app(api_settings.model_copy(update={"readiness_timeout_seconds": 0.5}), database_url)
    async with app.router.lifespan_context(app):
        await app.state.pool.close()  # as if the server went away
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
            ready, healthy = await client.get("/readyz"), await client.get("/healthz")
    assert (ready.status_code, ready.json()) == (503, {"status": "database unreachable"})
    assert healthy.status_code == 200
