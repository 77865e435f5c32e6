"""Run by test_interpreter_exit.py: a daemon thread waits inside the engine's module (GIL
released, as the ``async for`` feeder of Engine.events does) while the interpreter exits.

An object whose finalizer sleeps keeps the interpreter finalizing for 0.3 s, so the
thread's 0.05 s waits are sure to end in that window; the script must still exit 0.
argv: STORE."""

import sys
import threading
import time

import storyloom

store = sys.argv[1]


class SlowFinalizer:
    def __del__(self):
        time.sleep(0.3)  # runs while the interpreter finalizes (module globals cleared)


def wait_forever(sub):
    while True:
        sub.next_batch(0.05, 16)


engine = storyloom.Engine(store, poll_interval=0.01)
engine.workflow("waits")(lambda ctx, input: ctx.wait_for_signal("go"))
run = engine.start("waits", {})
sub = engine._native.subscribe(run.id, 0)
threading.Thread(target=wait_forever, args=(sub,), daemon=True).start()
time.sleep(0.1)
engine.close()
slow = SlowFinalizer()
print("exiting", flush=True)
