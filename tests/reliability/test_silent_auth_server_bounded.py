"""An auth server that accepts connections and never answers holds the probe at most the
outage limit (`DXORG_OUTAGE_SECONDS`), all its attempts and waits together: then the org's
provisioning is a problem naming the auth server and how long dxorg waited, and the API
reads go on (the auth server's silence is not the platform's).

Found by an adversarial review: the probe was bounded only by the run's deadline, so a
silent auth server held `plan` for 8 attempts of 5 s plus about a minute of backoff (about
17 minutes with default deadlines); only the one-hour run deadline ended it.

The auth server is a loopback socket that listens and never accepts (the kernel completes
the connection, nobody answers); the API is the served emulator. Before the fix the test
fails on its join timeout, which only turns a hang into a failure.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from reconciler.platform import Connection, PlatformConfig, PlatformLimits
from tests.reliability.conftest import API_TOKEN, Served

OUTAGE_LIMIT = 2.0
HANG_LIMIT = 30.0


@pytest.fixture
def silent_server() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # never accepted: connections complete, nothing ever answers
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_a_silent_auth_server_is_given_up_on_at_the_outage_limit(
    served: Served, silent_server: str
) -> None:
    config = PlatformConfig(
        protocol="http",
        host="127.0.0.1",
        port=served.port,
        token=API_TOKEN,
        auth_server_url=silent_server,
    )
    connection = Connection(
        config, limits=PlatformLimits(outage_seconds=OUTAGE_LIMIT, request_deadline=1)
    )
    problems: list[str | None] = []
    with connection.read_client() as reader:
        assert reader.whoami() == "user-alice"
        probing = threading.Thread(
            target=lambda: problems.append(reader.auth_server_problem()), daemon=True
        )
        probing.start()
        probing.join(HANG_LIMIT)
        assert not probing.is_alive(), "the probe of a silent auth server did not end"
        # The API reads are not stopped by it.
        assert reader.stop_reason() is None
        assert reader.whoami() == "user-alice"
    [problem] = problems
    assert problem is not None
    assert "/user/new" in problem and silent_server in problem
    assert f"limit is {OUTAGE_LIMIT:g} s, DXORG_OUTAGE_SECONDS" in problem
    assert "time(s) over" in problem
