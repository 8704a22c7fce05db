"""web/responses.py: the answers' bytes, and the error answers a route documents in the one error shape."""

from __future__ import annotations

from keyturn.web.responses import error_answers, shape_response
from keyturn.wire.common import ErrorOut


def test_a_routes_documented_errors_are_the_one_error_shape_with_their_meaning() -> None:
    documented = error_answers({401: "Missing credential", 404: "No such thing"})
    assert documented == {401: {"model": ErrorOut, "description": "Missing credential"},
                          404: {"model": ErrorOut, "description": "No such thing"}}
    assert list(documented) == [401, 404]  # the order written is the order /openapi.json lists


def test_the_error_shape_is_sent_compact_no_store_and_in_field_order() -> None:
    response = shape_response(ErrorOut(error="NOT_FOUND", message="Not Found"), 404, {"Retry-After": "3"})
    assert response.status_code == 404
    assert response.body == b'{"status":"ERROR","error":"NOT_FOUND","message":"Not Found"}'
    assert response.headers["cache-control"] == "no-store" and response.headers["retry-after"] == "3"
