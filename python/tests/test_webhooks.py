"""Webhooks from Python: signing and verifying (Standard Webhooks), outbound deliveries to a
receiver of our own on 127.0.0.1 with their log, and inbound webhooks that start a run once
per webhook id."""

import http.server
import json
import threading
import time

import pytest
import storyloom

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_sign_matches_the_standard_webhooks_example_and_verify_names_what_is_wrong():
    body = '{"test": 2432232314}'
    signature = storyloom.sign_webhook(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {
        "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": signature,
    }
    assert storyloom.verify_webhook(SECRET, headers, body.encode(), now_s=1614265330).ok
    assert storyloom.verify_webhook(SECRET, headers, body + " ", now_s=1614265330).status == 401
    stale = storyloom.verify_webhook(SECRET, headers, body, now_s=1614265330 + 301)
    assert (stale.status, stale.message) == (
        400,
        "the webhook-timestamp is outside the accepted window of 300 seconds",
    )
    with pytest.raises(storyloom.InvalidArgument, match="shorter than 16 bytes"):
        storyloom.sign_webhook("short", "id", 1, "")


class _Receiver(http.server.BaseHTTPRequestHandler):
    statuses: list = []
    requests: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        self.requests.append((dict(self.headers), body))
        status = self.statuses[len(self.requests) - 1] if len(self.requests) <= len(self.statuses) else 200
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    handler = type("Handler", (_Receiver,), {"statuses": [500], "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler.requests
    server.shutdown()
    server.server_close()


def test_a_failed_delivery_is_retried_signed_and_logged(engine, receiver):
    url, requests = receiver

    @engine.workflow("story")
    def story(ctx, input):
        return "the end"

    engine.configure_webhooks(
        [storyloom.WebhookSubscription("orders", url, SECRET, events=["run.completed"])],
        initial_backoff_ms=10,
        max_backoff_ms=10,
    )
    engine.launch()
    run = engine.start("story", {})
    deadline = time.monotonic() + 10
    log = engine.webhook_log("orders")
    while not (log and log[0].state == "delivered") and time.monotonic() < deadline:
        time.sleep(0.02)
        log = engine.webhook_log("orders")
    assert log[0].state == "delivered", log
    assert log[0].source_run_id == run.id
    assert [(a.status, a.error) for a in log[0].attempts] == [
        (500, "the receiver answered HTTP 500"),
        (200, None),
    ]
    headers, body = requests[1]
    assert headers["webhook-id"] == log[0].webhook_id
    assert storyloom.verify_webhook(SECRET, headers, body).ok
    assert json.loads(body)["data"]["event"] == {"output": "the end"}
    assert SECRET not in repr(storyloom.WebhookSubscription("orders", url, SECRET))


def test_configure_webhooks_refuses_bad_options_naming_the_field(engine):
    with pytest.raises(storyloom.InvalidArgument, match="url must start with http:// or https://"):
        engine.configure_webhooks([storyloom.WebhookSubscription("x", "ftp://h/", SECRET)])


def test_receive_webhook_starts_one_run_per_webhook_id(engine):
    @engine.workflow("import")
    def import_(ctx, input):
        return input

    engine.launch()
    body = json.dumps({"book": "moby"})
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": storyloom.sign_webhook(SECRET, "msg_1", now, body),
    }
    first = engine.receive_webhook(headers, body, secret=SECRET, workflow="import")
    assert first.ok and not first.duplicate
    again = engine.receive_webhook(headers, body, secret=SECRET, workflow="import")
    assert again.duplicate and again.run.id == first.run.id

    forged = engine.receive_webhook({**headers, "webhook-id": "msg_2"}, body, secret=SECRET, workflow="import")
    assert (forged.status, forged.run) == (401, None)
    old = now - 3600
    stale_headers = {
        "webhook-id": "msg_3",
        "webhook-timestamp": str(old),
        "webhook-signature": storyloom.sign_webhook(SECRET, "msg_3", old, body),
    }
    assert engine.receive_webhook(stale_headers, body, secret=SECRET, workflow="import").status == 400
    assert len(engine.list(workflow="import").runs) == 1
