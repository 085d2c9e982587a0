import asyncio

VIDEO = {"title": "Cooking", "description": "noodles", "video_url": "https://cdn.example.com/v/1.mp4"}


async def test_a_seller_uploads_a_video_with_its_ad_slots_filled(client, make_account, add_ads):
    seller = await make_account("seller", seller=True)
    ad_ids = add_ads(3)
    # 16 minutes: floor((16 - 1) / 5) = 3 slots, at 300, 600 and 900 s.
    response = await client.post("/videos", json={**VIDEO, "duration_seconds": 960}, headers=seller.headers)
    assert response.status_code == 201, response.text
    video = response.json()
    assert video["seller_id"] == seller.id and video["status"] == "ACTIVE"
    assert [(ad["slot"], ad["starts_at_seconds"]) for ad in video["ads"]] == [(1, 300), (2, 600), (3, 900)]
    assert sorted(ad["ad_id"] for ad in video["ads"]) == sorted(ad_ids)  # least-assigned first: one each

    fetched = await client.get(f"/videos/{video['id']}")
    assert fetched.status_code == 200 and fetched.json() == video


async def test_videos_up_to_six_minutes_get_no_ads(client, make_account, add_ads):
    seller = await make_account("seller", seller=True)
    add_ads(2)
    slots = {}
    for seconds in (300, 359, 360):  # floor((L/60 - 1) / 5) slots when L/60 > 5
        response = await client.post("/videos", json={**VIDEO, "duration_seconds": seconds}, headers=seller.headers)
        slots[seconds] = len(response.json()["ads"])
    assert slots == {300: 0, 359: 0, 360: 1}


async def test_only_sellers_upload(client, make_account):
    viewer = await make_account()
    response = await client.post("/videos", json={**VIDEO, "duration_seconds": 60}, headers=viewer.headers)
    assert response.status_code == 403 and "POST /me/seller" in response.json()["detail"]
    assert (await client.post("/videos", json={**VIDEO, "duration_seconds": 60})).status_code == 401


async def test_upload_validation(client, make_account):
    seller = await make_account("seller", seller=True)
    bad = {"title": " ", "video_url": "ftp://x", "duration_seconds": 0}
    response = await client.post("/videos", json=bad, headers=seller.headers)
    assert response.status_code == 422
    assert {error["loc"][-1] for error in response.json()["detail"]} == {"title", "video_url", "duration_seconds"}


async def test_list_is_paginated_and_filters_by_seller(client, make_account):
    first, second = await make_account("one", seller=True), await make_account("two", seller=True)
    for index in range(5):
        owner = first if index % 2 == 0 else second
        body = {**VIDEO, "title": f"video {index}", "duration_seconds": 60}
        assert (await client.post("/videos", json=body, headers=owner.headers)).status_code == 201

    page = (await client.get("/videos", params={"limit": 2, "offset": 1})).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [video["title"] for video in page["items"]] == ["video 3", "video 2"]  # newest first

    mine = (await client.get("/videos", params={"seller_id": first.id})).json()
    assert mine["total"] == 3 and {video["seller_id"] for video in mine["items"]} == {first.id}

    assert (await client.get("/videos", params={"limit": 0})).status_code == 422
    assert (await client.get("/videos", params={"seller_id": 2**63})).status_code == 422


async def test_unknown_video_is_404(client):
    response = await client.get("/videos/999999")
    assert response.status_code == 404 and response.json()["detail"] == "no video 999999"
    assert (await client.get("/videos/not-a-number")).status_code == 422


async def test_concurrent_uploads_spread_ads_without_double_slots(client, make_account, add_ads, conn):
    sellers = [await make_account(f"seller{i}", seller=True) for i in range(4)]
    add_ads(7)
    uploads = [client.post("/videos", json={**VIDEO, "duration_seconds": 960}, headers=sellers[i % 4].headers) for i in range(24)]
    responses = await asyncio.gather(*uploads)
    assert [response.status_code for response in responses] == [201] * 24
    assert all(len(response.json()["ads"]) == 3 for response in responses)

    slots_per_video = conn.execute("SELECT count(*), count(DISTINCT (video_id, slot)) FROM video_ads").fetchone()
    assert slots_per_video == (72, 72)
    loads = [
        row[0]
        for row in conn.execute("SELECT count(va.ad_id) FROM ads a LEFT JOIN video_ads va ON va.ad_id = a.id GROUP BY a.id")
    ]
    assert max(loads) - min(loads) <= 1  # 72 slots over 7 ads: 10 or 11 each
