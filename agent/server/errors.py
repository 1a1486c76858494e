"""`ApiError`: a request the server refuses, with the HTTP status and OpenAI's error body.

Every refusal of the server, from a malformed body to a full queue, is one of these, so that a
client always gets `{"error": {"message", "type", "code"}}` with a status that says whose fault
it was, and never a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "error_body"]

# status → OpenAI's error type for it
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    499: "invalid_request_error",
    500: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """A refused request: `status` for HTTP, `message` for the user, `code` for programs."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code)


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error object for a response with this status."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code}}
