"""Assertions shared by the web tests."""

from __future__ import annotations

import re
from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an error in the API's one shape, with `status` and `code`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"error", "detail", "fields"}, body
    assert body["error"] == code, body
    assert isinstance(body["detail"], str), body
    assert len(body["detail"]) > 10, body
    return dict(body)


def walk(client: Any, url: str, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    """Every item of a paged listing, following next_cursor until the last page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    sep = "&" if "?" in url else "?"
    for _ in range(10_000):
        page_url = f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(page_url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"], "a page with a next cursor must not be empty"
    raise AssertionError("pagination did not end")


def nul_requests(doc: dict[str, Any], known_meter: str) -> list[tuple[str, str, str]]:
    """(method, url, location) for every string parameter of `doc`, given a NUL in it.

    Path parameters other than the one under test name `known_meter`; each parameter gets
    the value ``a%00b``.
    """
    out = []
    for path, methods in doc["paths"].items():
        for method, spec in methods.items():
            for param in spec.get("parameters", []):
                schema = param.get("schema", {})
                kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if "string" not in kinds:
                    continue
                url = path
                if param["in"] == "path":
                    url = url.replace("{" + param["name"] + "}", "a%00b")
                elif param["in"] == "query":
                    url = f"{path}?{param['name']}=a%00b"
                else:
                    continue
                url = re.sub(r"\{[^}]+\}", known_meter, url)
                out.append((method.upper(), url, f"{param['in']}.{param['name']}"))
    return out
