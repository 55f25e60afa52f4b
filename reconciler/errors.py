"""The error tree. The core raises these; only the CLI turns them into exit codes.

    DxorgError                      every error a user can cause or meet; exit 1
    ├── ManifestError               bad manifests: carries every Problem found
    ├── ConfigError                 cannot find or read the platform configuration
    ├── UnsafePlanError             a plan whose safety rails are violated
    ├── StalePlanError              a saved plan whose live objects have changed
    ├── DivergedPlanError           a reviewed plan that is not what the manifests give now
    ├── ReadIncompleteError         a live read failed or came back partial (fail closed)
    ├── WriteRefusedError           a write attempted through a read-only client
    └── ApiError                    the platform answered with an error (or never answered)
        ├── InvalidAuthentication, PermissionDenied, ResourceNotFound, InvalidInput,
        │   InvalidState, InvalidType, MalformedJSON, OrgExpired, SpendingLimitExceeded,
        │   RateLimitConditional, InternalError, ServiceUnavailable
        └── TransportError          no usable answer (connection refused, dropped, timed out)
            └── PlatformOutage      the run stopped sending: no answer for too long, or its deadline

Messages never contain a token: the client builds them from the route and the
platform's error body only.
"""

from __future__ import annotations

from dataclasses import dataclass

# Foreign text made visible lives in render.inert (one home); the platform client and
# the manifest problems use it from here.
from reconciler.render.inert import printable


class DxorgError(Exception):
    """Base of every error dxorg reports to the user without a traceback."""


@dataclass(frozen=True)
class Problem:
    """One problem in a manifest, with its position (1-based line and column)."""

    file: str
    line: int
    column: int
    message: str

    def __post_init__(self) -> None:
        # Messages quote keys and values from the file: a control character there (a
        # newline, an ANSI escape) must not fake another problem line or drive a terminal.
        object.__setattr__(self, "message", printable(self.message))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ManifestError(DxorgError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(DxorgError):
    pass


class UnsafePlanError(DxorgError):
    pass


class StalePlanError(DxorgError):
    pass


class DivergedPlanError(DxorgError):
    """A reviewed plan is not what its manifests and the live orgs give now (other options,
    edited manifests, an edited plan file, or changes made since): nothing is applied."""


class ReadIncompleteError(DxorgError):
    pass


class WriteRefusedError(DxorgError):
    pass


class ApiError(DxorgError):
    """An error answer from the platform, or no answer at all.

    `route` is the API route called (e.g. ``/org-demo/invite``), `error_type` the
    platform's error type, `status` the HTTP status (None if there was no response),
    `attempts` how many HTTP attempts the client made before giving up (None: unknown).
    `outcome_unknown` is set by the client on a write it gave up on after an attempt whose
    answer was lost (a timeout or a dropped connection after sending, a 5xx that is not
    "unavailable"), which nothing showed did not land: it may have taken effect.
    """

    attempts: int | None = None
    outcome_unknown: bool = False

    def __init__(
        self,
        route: str,
        message: str,
        *,
        error_type: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        details: object = None,
    ) -> None:
        self.route = route
        self.error_type = error_type or type(self).__name__
        self.status = status
        self.request_id = request_id
        self.details = details
        self.api_message = message
        where = f"{route}: " if route else ""
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{where}{self.error_type}: {message}{code}")


class InvalidAuthentication(ApiError):
    pass


class PermissionDenied(ApiError):
    pass


class ResourceNotFound(ApiError):
    pass


class InvalidInput(ApiError):
    pass


class InvalidState(ApiError):
    pass


class InvalidType(ApiError):
    pass


class MalformedJSON(ApiError):
    pass


class OrgExpired(ApiError):
    pass


class SpendingLimitExceeded(ApiError):
    pass


class RateLimitConditional(ApiError):
    pass


class InternalError(ApiError):
    pass


class ServiceUnavailable(ApiError):
    pass


class TransportError(ApiError):
    """No usable HTTP answer: refused, reset, dropped, timed out, or an unparseable body."""


class PlatformOutage(TransportError):
    """The run stopped sending: the platform answered nothing for too long (the circuit
    breaker) or the run's deadline passed. `maybe_landed` says whether an earlier attempt
    of this call was sent and its answer lost (its outcome is then unknown); when False
    the call was not sent, or cannot have taken effect.
    """

    def __init__(self, route: str, reason: str, *, maybe_landed: bool) -> None:
        super().__init__(route, reason)
        self.reason = reason
        self.maybe_landed = maybe_landed


API_ERRORS_BY_TYPE: dict[str, type[ApiError]] = {
    cls.__name__: cls
    for cls in (
        InvalidAuthentication,
        PermissionDenied,
        ResourceNotFound,
        InvalidInput,
        InvalidState,
        InvalidType,
        MalformedJSON,
        OrgExpired,
        SpendingLimitExceeded,
        RateLimitConditional,
        InternalError,
        ServiceUnavailable,
    )
}
