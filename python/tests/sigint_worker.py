"""Run by test_asyncio.py: a script that writes three slow pages and is stopped with Ctrl-C.

argv: STORE LOG MODE (sync|async). Each page step appends its name to LOG when it starts.
Exit 130 and print "interrupted" on Ctrl-C; print the run's status when it ends."""

import asyncio
import sys
import time

import storyloom

store, log, mode = sys.argv[1:4]


def write_page(n):
    with open(log, "a") as f:
        f.write(f"page/{n}\n")
    time.sleep(0.5)
    return f"text of page {n}"


def register(engine):
    @engine.workflow("pages")
    def pages(ctx, input):
        return {"pages": [ctx.step(f"page/{n}", lambda n=n: write_page(n)) for n in (1, 2, 3)]}


def main_sync():
    with storyloom.Engine(store, poll_interval=0.01, drain_timeout=1) as engine:
        register(engine)
        engine.launch()
        run = engine.start("pages", {"book": 1}, idempotency_key="book-1")
        print(engine.wait(run.id).status, flush=True)


async def main_async():
    async with storyloom.Engine(store, poll_interval=0.01, drain_timeout=1) as engine:
        register(engine)
        await engine.alaunch()
        run = await engine.astart("pages", {"book": 1}, idempotency_key="book-1")
        print((await engine.await_run(run.id)).status, flush=True)


try:
    main_sync() if mode == "sync" else asyncio.run(main_async())
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
