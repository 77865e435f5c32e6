"""The process test_close.py runs: opens an engine on STORE with drain_timeout=1, starts one
run whose step sleeps 5 s (appending "began" to LOG first), closes the engine while the step
sleeps, prints "<run id> <seconds close took>" and exits with the step still asleep on its
worker thread.

    python close_worker.py STORE LOG
"""

import sys
import threading
import time

import storyloom

store, log = sys.argv[1], sys.argv[2]
began = threading.Event()
engine = storyloom.Engine(store, poll_interval=0.01, drain_timeout=1)


def block() -> str:
    with open(log, "a") as f:
        f.write("began\n")
    began.set()
    time.sleep(5)
    return "first process"


engine.register("slow", lambda ctx, input: ctx.step("block", block))
engine.launch()
run = engine.start("slow", {})
if not began.wait(10):
    sys.exit("close_worker: the step never began")
start = time.monotonic()
engine.close()
print(run.id, round(time.monotonic() - start, 3), flush=True)
