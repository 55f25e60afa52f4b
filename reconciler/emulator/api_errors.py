"""The platform's error types, each with the HTTP status the emulator answers with.

Every error response body is ``{"error": {"type": ..., "message": ...}}``: dxpy looks the
type up as a class in ``dxpy.exceptions`` and needs ``message`` to be present.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API reports to the caller (never a 5xx from business logic)."""

    error_type = "InvalidInput"
    status = 422

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        # Response headers the error carries (a method's own 503 sends Retry-After).
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class MalformedJSON(ApiError):
    error_type = "MalformedJSON"
    status = 400


class InvalidAuthentication(ApiError):
    error_type = "InvalidAuthentication"
    status = 401


class PermissionDenied(ApiError):
    # dxpy's resolver treats PermissionDenied as "code 401" like InvalidAuthentication.
    error_type = "PermissionDenied"
    status = 401


class OrgExpired(ApiError):
    error_type = "OrgExpired"
    status = 403


class ResourceNotFound(ApiError):
    error_type = "ResourceNotFound"
    status = 404


class MethodNotAllowed(ApiError):
    """Every API route is POST; anything else is refused with this."""

    error_type = "MethodNotAllowed"
    status = 405


class RequestTooLarge(ApiError):
    """A body over the size cap, refused before it is read."""

    error_type = "InvalidInput"
    status = 413


class InvalidInput(ApiError):
    error_type = "InvalidInput"
    status = 422


class AuthServerInvalidInput(ApiError):
    """`user/new` input the auth server refuses. dx-toolkit's test_create_user_account_and_set_
    bill_to_negative shows `dx` printing these as a plain DXAPIError, so the platform's type is
    one dxpy has no class for; which one is UNKNOWN, and this name is the emulator's own."""

    error_type = "AuthServerInvalidInput"
    status = 422


class InvalidState(ApiError):
    error_type = "InvalidState"
    status = 422


class InvalidType(ApiError):
    error_type = "InvalidType"
    status = 422


class RateLimitConditional(ApiError):
    error_type = "RateLimitConditional"
    status = 429


class InternalError(ApiError):
    error_type = "InternalError"
    status = 500


class ServiceUnavailable(ApiError):
    error_type = "ServiceUnavailable"
    status = 503
