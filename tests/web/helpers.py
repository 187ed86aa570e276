"""Assertions shared by the web tests."""

from __future__ import annotations

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
