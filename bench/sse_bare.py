"""The stream benchmark's baseline (``bench.webhook_cases``): a bare Server-Sent Events server
with the same shape as the API's hub — one producer, a bounded queue per client — that waits
for CLIENTS connections on ``/events``, sends FRAMES webhook-sized frames to each as fast as it
can, then ends every stream.

    python -m bench.sse_bare PORT CLIENTS FRAMES
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

_BODY = json.dumps({"id": "0" * 32, "event": "cluster.ready", "timestamp": "2026-12-01T10:00:00Z",
                    "data": {"cluster_id": "sse-00000", "name": "sse-00000",
                             "provider": "local", "status": "active"}})


def app(clients: int, frames: int) -> Starlette:
    queues: list[asyncio.Queue[str | None]] = []
    all_connected = asyncio.Event()

    async def produce() -> None:
        await all_connected.wait()
        for index in range(frames):
            frame = f"id: {index}\nevent: cluster.ready\ndata: {_BODY}\n\n"
            for queue in queues:
                await queue.put(frame)
        for queue in queues:
            await queue.put(None)

    async def events(_: Request) -> StreamingResponse:
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)
        queues.append(queue)
        if len(queues) == clients:
            all_connected.set()
            asyncio.get_running_loop().create_task(produce())

        async def stream() -> AsyncIterator[str]:
            while (frame := await queue.get()) is not None:
                yield frame

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def readyz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/events", events), Route("/readyz", readyz)])


if __name__ == "__main__":
    port, clients, frames = (int(a) for a in sys.argv[1:4])
    uvicorn.run(app(clients, frames), host="127.0.0.1", port=port, log_level="warning")
