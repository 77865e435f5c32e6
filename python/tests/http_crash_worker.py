"""Run by test_http_step.py in a child process that the test kills with SIGKILL.

argv: STORE URL READY_FILE. Starts a run of "fetchy": an http step, then a step that
blocks after creating READY_FILE (by then the http step's response is committed)."""

import sys
import time

import storyloom

store, url, ready = sys.argv[1:4]

engine = storyloom.Engine(store, poll_interval=0.01)


@engine.workflow("fetchy")
def fetchy(ctx, input):
    response = ctx.http("fetch", url, method="POST", json={"n": 1})

    def hang():
        open(ready, "w").close()
        while True:
            time.sleep(1)

    ctx.step("hang", hang)
    return response.status


engine.launch()
run = engine.start("fetchy", {})
print(run.id, flush=True)
while True:
    time.sleep(1)
