"""Run by test_crash.py in a child process that the test kills with SIGKILL.

argv: STORE COUNTER_FILE READY_FILE. Starts a run of "crashy" whose first step appends a
line to COUNTER_FILE and whose second step blocks after creating READY_FILE."""

import sys
import time

import storyloom

store, counter, ready = sys.argv[1:4]

engine = storyloom.Engine(store, poll_interval=0.01)


@engine.workflow("crashy")
def crashy(ctx, input):
    def first():
        with open(counter, "a") as f:
            f.write("first\n")
        return "done"

    def second():
        open(ready, "w").close()
        while True:
            time.sleep(1)

    a = ctx.step("first", first)
    b = ctx.step("second", second)
    return {"first": a, "second": b}


engine.launch()
run = engine.start("crashy", {"topic": "a storm"}, idempotency_key="crash-1")
print(run.id, flush=True)
while True:
    time.sleep(1)
