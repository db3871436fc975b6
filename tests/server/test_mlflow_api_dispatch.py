"""The MLflow API's request loop: where handlers run, and how unknown paths answer.

Uses the real dispatcher with test endpoints whose handlers block on an
event, so "long searches cannot starve point calls" is checked without
timing assumptions.
"""

from __future__ import annotations

import threading

import anyio
import httpx

from moorline.server.mlflow.dispatch import HEAVY_CONCURRENCY, Endpoint, JsonApi, Work
from moorline.server.mlflow.wire import JsonDict, Message, string

EMPTY = Message("Empty")


def test_heavy_requests_cannot_starve_point_calls() -> None:
    release = threading.Event()
    lock = threading.Lock()
    running = 0
    peak = 0

    def slow(fields: JsonDict) -> JsonDict:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            assert release.wait(30), "never released"
        finally:
            with lock:
                running -= 1
        return {"slow": True}

    def quick(fields: JsonDict) -> JsonDict:
        return {"quick": True}

    api = JsonApi(
        [
            Endpoint("POST", "search", EMPTY, slow, Work.HEAVY),
            Endpoint("POST", "log", EMPTY, quick, Work.POINT),
        ]
    )

    async def main() -> None:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            results: list[httpx.Response] = []

            async def search() -> None:
                results.append(await client.post("/search", json={}))

            async with anyio.create_task_group() as tg:
                for _ in range(3 * HEAVY_CONCURRENCY):
                    tg.start_soon(search)
                with anyio.fail_after(20):
                    while running < HEAVY_CONCURRENCY:
                        await anyio.sleep(0.01)
                    answer = await client.post("/log", json={})
                assert answer.status_code == 200
                assert answer.json() == {"quick": True}
                assert running == HEAVY_CONCURRENCY
                release.set()
            assert [r.status_code for r in results] == [200] * (3 * HEAVY_CONCURRENCY)
        assert peak == HEAVY_CONCURRENCY

    anyio.run(main)


def test_routing_answers_in_json() -> None:
    api = JsonApi(
        [
            Endpoint("GET", "things/get", Message("Get", string("id", required=True)), dict),
            Endpoint("DELETE", "things/{thing_id}/tags/{key:path}", EMPTY, lambda f: f),
        ]
    )

    async def main() -> None:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ok = await client.get("/things/get", params={"id": "7"})
            assert ok.json() == {"id": "7"}
            tag = await client.delete("/things/t-1/tags/a/b.c")
            assert tag.json() == {"thing_id": "t-1", "key": "a/b.c"}
            missing = await client.get("/things/get")
            assert missing.status_code == 400
            assert missing.json()["message"] == "Missing value for required parameter 'id'"
            unknown = await client.get("/nothing")
            assert unknown.status_code == 404
            assert unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
            wrong = await client.put("/things/get")
            assert wrong.status_code == 405
            assert wrong.headers["allow"] == "GET"
            assert wrong.json()["error_code"] == "ENDPOINT_NOT_FOUND"

    anyio.run(main)
