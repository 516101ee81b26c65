"""The SSE reader's resume path: a server that drops the connection after each event. The live
API only drops slow clients, so a small real HTTP server plays the dropping server here; what is
checked is what the SDK sends (Last-Event-ID) and that no event is lost or repeated."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hybridcloud_sdk import APIConnectionError, HybridCloudClient

EVENTS = [f"e{n}" for n in range(4)]


class DroppingServer(BaseHTTPRequestHandler):
    """Sends a heartbeat and the one event after Last-Event-ID, then closes the connection."""

    seen_ids: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        last = self.headers.get("Last-Event-ID")
        type(self).seen_ids.append(last)
        following = EVENTS[EVENTS.index(last) + 1:] if last else EVENTS
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        frame = ": heartbeat\n\n"
        if following:
            event_id = following[0]
            body = {"id": event_id, "event": "cluster.ready", "timestamp": "2026-12-01T10:00:00Z",
                    "data": {"cluster_id": "c1", "query": self.path}}
            frame += f"id: {event_id}\nevent: cluster.ready\ndata: {json.dumps(body)}\n\n"
        self.wfile.write(frame.encode())
        self.close_connection = True

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def dropping() -> Iterator[str]:
    DroppingServer.seen_ids = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), DroppingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_dropped_stream_resumes_with_last_event_id_losing_and_repeating_nothing(
        dropping: str) -> None:
    with HybridCloudClient(base_url=dropping, api_key="t") as client:
        stream = client.events.subscribe(clusters=["c1", "c2"], events=["cluster.ready"],
                                         max_reconnects=2)
        events = [next(stream) for _ in EVENTS]
    assert [event.id for event in events] == EVENTS
    assert DroppingServer.seen_ids == [None, "e0", "e1", "e2"]
    assert events[0].data["query"] == "/v1/events?clusters=c1%2Cc2&events=cluster.ready"


def test_a_stream_that_keeps_breaking_without_events_gives_up_with_a_connection_error(
        dropping: str) -> None:
    with HybridCloudClient(base_url=dropping, api_key="t") as client:
        stream = client.events.subscribe(last_event_id=EVENTS[-1], max_reconnects=2)
        with pytest.raises(APIConnectionError, match="event stream broke"):
            next(stream)
    assert DroppingServer.seen_ids == [EVENTS[-1]] * 3


def test_an_api_that_is_not_there_fails_the_first_connection_at_once() -> None:
    with HybridCloudClient(base_url="http://127.0.0.1:9", api_key="t") as client, \
            pytest.raises(APIConnectionError):
        next(client.events.subscribe())
