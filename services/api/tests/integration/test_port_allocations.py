"""A port is allocated at most once per server, even under concurrent requests."""

from __future__ import annotations

import asyncio

import httpx
from api_testing import NewUser, make_project, make_server, ok


async def test_concurrent_allocations_on_one_server_never_share_a_port(
    service: httpx.AsyncClient, new_user: NewUser
) -> None:
    server = await make_server(service)
    project = await make_project((await new_user()).client)
    requests = [
        service.post(
            "/api/port-allocations",
            json={"server_id": server["id"], "project_id": project["id"], "service_name": f"s{i}"},
        )
        for i in range(40)
    ]

    responses = await asyncio.gather(*requests)

    assert [r.status_code for r in responses] == [201] * 40
    ports = [r.json()["port"] for r in responses]
    assert len(set(ports)) == 40
    assert sorted(ports) == list(range(20000, 20040))


async def test_asking_again_for_the_same_service_returns_its_port(
    service: httpx.AsyncClient, new_user: NewUser
) -> None:
    server = await make_server(service)
    project = await make_project((await new_user()).client)
    body = {"server_id": server["id"], "project_id": project["id"], "service_name": "web"}
    first = await ok(service.post("/api/port-allocations", json=body), 201)
    again = await ok(service.post("/api/port-allocations", json=body), 200)
    assert again == first


async def test_a_requested_port_that_is_taken_is_a_conflict(
    service: httpx.AsyncClient, new_user: NewUser
) -> None:
    server = await make_server(service)
    project = await make_project((await new_user()).client)
    body = {"server_id": server["id"], "project_id": project["id"], "port": 8080}
    await ok(service.post("/api/port-allocations", json={**body, "service_name": "a"}), 201)
    response = await service.post("/api/port-allocations", json={**body, "service_name": "b"})
    assert response.status_code == 409
    assert response.json()["details"][0]["field"] == "port"


async def test_the_same_port_may_be_used_on_different_servers(
    service: httpx.AsyncClient, new_user: NewUser
) -> None:
    project = await make_project((await new_user()).client)
    ports = []
    for _ in range(2):
        server = await make_server(service)
        allocation = await ok(
            service.post(
                "/api/port-allocations",
                json={
                    "server_id": server["id"],
                    "project_id": project["id"],
                    "service_name": "web",
                },
            ),
            201,
        )
        ports.append(allocation["port"])
    assert ports == [20000, 20000]


async def test_a_released_port_is_given_out_again(
    service: httpx.AsyncClient, new_user: NewUser
) -> None:
    server = await make_server(service)
    project = await make_project((await new_user()).client)
    body = {"server_id": server["id"], "project_id": project["id"]}
    first = await ok(service.post("/api/port-allocations", json={**body, "service_name": "a"}), 201)
    await ok(service.post("/api/port-allocations", json={**body, "service_name": "b"}), 201)

    released = await service.delete(f"/api/port-allocations/{first['id']}")
    third = await ok(service.post("/api/port-allocations", json={**body, "service_name": "c"}), 201)

    assert released.status_code == 204
    assert third["port"] == first["port"]
    assert (await service.get(f"/api/port-allocations/{first['id']}")).status_code == 404


async def test_a_full_range_is_reported_as_a_conflict(
    service: httpx.AsyncClient, new_user: NewUser
) -> None:
    server = await make_server(service)
    project = await make_project((await new_user()).client)
    body = {"server_id": server["id"], "project_id": project["id"]}
    for i in range(100):
        await ok(service.post("/api/port-allocations", json={**body, "service_name": f"s{i}"}), 201)
    response = await service.post("/api/port-allocations", json={**body, "service_name": "late"})
    assert response.status_code == 409
    assert response.json()["message"] == "no free port left on this server"


async def test_allocations_are_filtered_by_server_and_owners_see_their_own(
    service: httpx.AsyncClient, new_user: NewUser
) -> None:
    s1, s2 = await make_server(service), await make_server(service)
    alice, bob = await new_user(), await new_user()
    pa, pb = await make_project(alice.client), await make_project(bob.client)
    for server, project in [(s1, pa), (s2, pa), (s1, pb)]:
        body = {"server_id": server["id"], "project_id": project["id"], "service_name": "web"}
        await ok(service.post("/api/port-allocations", json=body), 201)

    assert len(await ok(service.get("/api/port-allocations", params={"server_id": s1["id"]}))) == 2
    assert len(await ok(alice.client.get("/api/port-allocations"))) == 2
    assert len(await ok(bob.client.get("/api/port-allocations"))) == 1
    refused = await alice.client.post(
        "/api/port-allocations",
        json={"server_id": s1["id"], "project_id": pa["id"], "service_name": "api"},
    )
    assert refused.status_code == 403
