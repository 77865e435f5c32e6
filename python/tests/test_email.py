"""storyloom.send_email against a fake SMTP server of our own on 127.0.0.1: the message with
both parts and the link; a 4xx is a retryable error, a 5xx a fatal one."""

import socketserver
import threading

import pytest
import storyloom


class _Smtp(socketserver.StreamRequestHandler):
    refuse: list = []
    messages: list = []

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 fake-smtp ESMTP")
        data = None
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            if data is not None:
                if line == ".":
                    self.messages.append(data)
                    data = None
                    self.reply("250 OK")
                else:
                    data += (line[1:] if line.startswith("..") else line) + "\n"
                continue
            command = line[:10].upper()
            if command.startswith("EHLO"):
                self.reply("250 fake-smtp")
            elif command.startswith("MAIL FROM"):
                self.reply(self.refuse.pop(0) if self.refuse else "250 OK")
            elif command.startswith("DATA"):
                data = ""
                self.reply("354 go ahead")
            elif command.startswith("QUIT"):
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


@pytest.fixture
def smtp():
    handler = type("Handler", (_Smtp,), {"refuse": [], "messages": []})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"smtp://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def send(url, **extra):
    return storyloom.send_email(
        "reader@example.com",
        "Your story is ready",
        "It is written.",
        html="<p>It is <b>written</b>.</p>",
        link="http://stories.test/story/r1",
        message_id="r1.ready@test",
        url=url,
        sender="stories@example.com",
        **extra,
    )


def test_a_message_has_both_parts_and_the_link(smtp):
    url, handler = smtp
    result = send(url)
    assert result.smtp_status == 250
    assert result.message_id == "<r1.ready@test>"
    (message,) = handler.messages
    assert "Subject: Your story is ready" in message
    assert "multipart/alternative" in message
    assert "Open your story: http://stories.test/story/r1" in message
    assert '<a href="http://stories.test/story/r1">' in message


def test_a_4xx_is_retryable_and_a_5xx_is_fatal(smtp):
    url, handler = smtp
    handler.refuse.append("451 try later")
    with pytest.raises(storyloom.StoryloomError) as temporary:
        send(url)
    assert temporary.value.error_class == "retryable"
    assert "451" in str(temporary.value)
    handler.refuse.append("550 no such user")
    with pytest.raises(storyloom.StoryloomError) as permanent:
        send(url)
    assert permanent.value.error_class == "fatal"
    assert "550" in str(permanent.value)
    assert handler.messages == []


def test_bad_configuration_is_named():
    with pytest.raises(storyloom.InvalidArgument, match="SMTP_URL must start with smtp:// or smtps://"):
        send("http://127.0.0.1:1")
