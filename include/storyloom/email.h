// Email over SMTP through libcurl: smtp:// (plain, or upgraded with STARTTLS)
// and smtps:// (TLS from the start), with authentication, a plain-text and an
// HTML part as multipart/alternative, and a link back to the story.
//
// The `email` step (email_step) runs the send as a step of the workflow: its
// result is stored once, a 4xx answer of the server or a network error is
// retried per the policy, a 5xx answer fails the step for good. The password
// never appears in an event, an error message or a stored result.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/context.h"
#include "storyloom/json.h"
#include "storyloom/retry.h"

namespace storyloom {

struct SmtpConfig {
  // smtp://host[:port] or smtps://host[:port]; user:password@ in it is refused
  // (give them below, so the URL can be shown).
  std::string url;
  std::string username;
  std::string password;
  std::string from;  // the sender address, "Name <addr>" or "addr"
  // smtp:// only: true requires STARTTLS (fails if the server lacks it);
  // false upgrades when the server offers it.
  bool require_starttls = false;
  std::chrono::milliseconds timeout{30000};  // the whole exchange, connecting included
  // Whether an email can be sent: a URL and a sender are set.
  bool configured() const { return !url.empty() && !from.empty(); }
};

// SMTP_URL, SMTP_FROM, SMTP_USERNAME, SMTP_PASSWORD and SMTP_REQUIRE_STARTTLS
// ("1"/"true") from `getenv` (the process environment by default).
SmtpConfig smtp_config_from_environment(
    const std::function<const char*(const char*)>& getenv = nullptr);

struct EmailMessage {
  std::vector<std::string> to;  // at least one address
  std::string subject;
  std::string text;  // the plain-text part
  std::string html;  // the HTML part; empty: a text-only message
  std::string link;  // appended to both parts ("Open your story: <link>"); optional
};

// Sends one message and returns {"accepted": true, "smtp_status": 250,
// "message_id": "<...>"}. Throws Error(provider): retryable for a 4xx reply or
// a network error (timeout: timeout class), fatal for a 5xx reply or bad
// input (invalid_argument naming the field). `message_id` becomes the
// Message-ID header (pass a stable id so a retry is recognisable).
Json send_email(const SmtpConfig& config, const EmailMessage& message, std::string_view message_id);

// The built-in email step: step `name` of the workflow sends the message once
// (its result stored), with retries per `retry` (4xx and network errors
// retried, 5xx not). The Message-ID is derived from the run and step.
Json email_step(Context& ctx, std::string_view name, const SmtpConfig& config,
                const EmailMessage& message, std::optional<RetryPolicy> retry = std::nullopt);

// The MIME text of a message (headers and body, CRLF line ends), as sent.
std::string email_mime(const SmtpConfig& config, const EmailMessage& message,
                       std::string_view message_id, int64_t date_unix_s);

}  // namespace storyloom
