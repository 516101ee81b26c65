"""The webhook benchmark's receiver process (``bench.webhook_cases``): every path is an
endpoint; each POST's signature is verified as docs/webhooks.md tells receivers to, then
recorded. Prints its URL; then, per line on stdin, the records so far as one JSON line
([event id, path, received at, verified]).

    python -m bench.webhook_receiver SECRET
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from aiohttp import web

from hybridcloud.events import signing


async def main(secret: bytes) -> None:
    records: list[list[Any]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        verified = signing.verify(secret, request.headers.get(signing.TIMESTAMP_HEADER, ""),
                                  body, request.headers.get(signing.SIGNATURE_HEADER, ""),
                                  now=int(time.time()))
        records.append([request.headers.get(signing.EVENT_ID_HEADER), request.path,
                        time.time(), verified])
        return web.Response(status=200 if verified else 401)

    app = web.Application()
    app.router.add_post("/{path:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"http://127.0.0.1:{port}", flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(json.dumps(records), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1].encode()))
