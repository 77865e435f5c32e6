// send_email: one SMTP exchange with libcurl's easy interface (the calling
// thread waits; the email step runs on an engine worker thread).
#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

#include "storyloom/email.h"
#include "storyloom/error.h"

namespace storyloom {
namespace {

[[noreturn]] void bad(const std::string& what) { throw Error(ErrorCode::invalid_argument, what); }

bool has_line_break(std::string_view text) {
  return text.find('\r') != std::string_view::npos || text.find('\n') != std::string_view::npos;
}

// "<addr>" for the address inside "Name <addr>", or for the whole text.
std::string angle_address(const std::string& mailbox) {
  auto open = mailbox.find('<');
  auto close = mailbox.rfind('>');
  std::string out(1, '<');
  if (open != std::string::npos && close != std::string::npos && close > open) {
    out.append(mailbox, open + 1, close - open - 1);
  } else {
    out.append(mailbox);
  }
  out.push_back('>');
  return out;
}

std::string in_angles(std::string_view text) {
  std::string out(1, '<');
  out.append(text);
  out.push_back('>');
  return out;
}

// "host:port" of the URL, for messages (never the rest of it).
std::string server_of(const std::string& url) {
  auto start = url.find("://");
  std::string rest = start == std::string::npos ? url : url.substr(start + 3);
  return rest.substr(0, rest.find('/'));
}

void check(const SmtpConfig& config, const EmailMessage& message) {
  if (config.url.rfind("smtp://", 0) != 0 && config.url.rfind("smtps://", 0) != 0) {
    bad("SMTP_URL must start with smtp:// or smtps://");
  }
  if (server_of(config.url).find('@') != std::string::npos) {
    bad("SMTP_URL must not hold a user or password: set SMTP_USERNAME and SMTP_PASSWORD");
  }
  if (config.from.empty()) bad("the email sender (SMTP_FROM) is empty");
  if (has_line_break(config.from)) bad("the email sender holds a line break");
  if (message.to.empty()) bad("the email has no recipient (to)");
  for (const auto& to : message.to) {
    if (to.empty() || has_line_break(to) || to.find('@') == std::string::npos) {
      bad("the email recipient '" + (has_line_break(to) ? std::string("(with a line break)") : to) +
          "' is not an address");
    }
  }
  if (has_line_break(message.subject)) bad("the email subject holds a line break");
  if (message.text.empty() && message.html.empty()) bad("the email has neither text nor html");
}

// Lines of `text` with CRLF ends, dot-stuffed (RFC 5321: a line starting with
// "." gets another, so it cannot end the message early).
std::string body_lines(std::string_view text) {
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == '.') out += '.';
    out.append(line).append("\r\n");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// RFC 2047 encoded-word when the subject is not plain ASCII.
std::string header_text(const std::string& text) {
  bool ascii = true;
  for (unsigned char c : text) ascii = ascii && c < 0x80;
  if (ascii) return text;
  static const char* digits = "0123456789ABCDEF";
  std::string out = "=?UTF-8?Q?";
  for (unsigned char c : text) {
    if (c == ' ') {
      out += '_';
    } else if (c < 0x80 && std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      out += '=';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out + "?=";
}

struct Upload {
  std::string data;
  size_t offset = 0;
};

size_t read_upload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  size_t n = std::min(size * count, upload->data.size() - upload->offset);
  std::memcpy(buffer, upload->data.data() + upload->offset, n);
  upload->offset += n;
  return n;
}

}  // namespace

SmtpConfig smtp_config_from_environment(const std::function<const char*(const char*)>& getenv) {
  auto read = [&](const char* name) {
    const char* v = getenv ? getenv(name) : std::getenv(name);
    return std::string(v ? v : "");
  };
  SmtpConfig config;
  config.url = read("SMTP_URL");
  config.from = read("SMTP_FROM");
  config.username = read("SMTP_USERNAME");
  config.password = read("SMTP_PASSWORD");
  std::string tls = read("SMTP_REQUIRE_STARTTLS");
  config.require_starttls = tls == "1" || tls == "true";
  return config;
}

std::string email_mime(const SmtpConfig& config, const EmailMessage& message,
                       std::string_view message_id, int64_t date_unix_s) {
  std::string text = message.text;
  std::string html = message.html;
  if (!message.link.empty()) {
    text += (text.empty() ? "" : "\n\n") + std::string("Open your story: ") + message.link + "\n";
    if (!html.empty()) {
      html += "\n<p><a href=\"" + html_escape(message.link) + "\">Open your story</a></p>\n";
    }
  }
  std::time_t seconds = static_cast<std::time_t>(date_unix_s);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string to;
  for (const auto& t : message.to) to += (to.empty() ? "" : ", ") + t;
  std::string mime = "From: " + config.from + "\r\nTo: " + to + "\r\nSubject: " +
                     header_text(message.subject) + "\r\nDate: " + date + "\r\nMessage-ID: <" +
                     std::string(message_id) + ">\r\nMIME-Version: 1.0\r\n";
  const std::string text_part = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  if (html.empty()) return mime + text_part + body_lines(text);
  // The boundary is derived from the Message-ID: the same message each attempt.
  std::string boundary = "=_storyloom_" + std::to_string(std::hash<std::string_view>()(message_id));
  mime += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
  mime += "--" + boundary + "\r\n" + text_part + body_lines(text);
  mime += "--" + boundary + "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
          body_lines(html);
  mime += "--" + boundary + "--\r\n";
  return mime;
}

Json send_email(const SmtpConfig& config, const EmailMessage& message, std::string_view message_id) {
  check(config, message);
  std::string server = server_of(config.url);
  Upload upload{email_mime(config, message, message_id, static_cast<int64_t>(std::time(nullptr)))};
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw Error(ErrorCode::internal, "libcurl could not start an SMTP transfer");
  curl_slist* recipients = nullptr;
  for (const auto& to : message.to) recipients = curl_slist_append(recipients, angle_address(to).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> recipients_owner(recipients, curl_slist_free_all);
  std::string from = angle_address(config.from);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, config.url.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout.count()));
  if (config.url.rfind("smtp://", 0) == 0) {
    curl_easy_setopt(c, CURLOPT_USE_SSL, config.require_starttls ? CURLUSESSL_ALL : CURLUSESSL_TRY);
  }
  if (!config.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, config.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, config.password.c_str());
  }
  CURLcode result = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (result == CURLE_OK) {
    return boost::json::object{{"accepted", true}, {"smtp_status", status},
                               {"message_id", in_angles(message_id)}};
  }
  // libcurl's text names the failure, never the password or the message.
  std::string why = "SMTP server " + server + ": " + curl_easy_strerror(result);
  if (status >= 500) {
    throw Error(ErrorCode::provider, why + " (reply " + std::to_string(status) + ", not retried)",
                ErrorClass::fatal);
  }
  // Wrong credentials or no STARTTLS where it is required: retrying cannot help.
  if (result == CURLE_LOGIN_DENIED || result == CURLE_USE_SSL_FAILED) {
    throw Error(ErrorCode::provider, why, ErrorClass::fatal);
  }
  if (status >= 400) {
    throw Error(ErrorCode::provider, why + " (reply " + std::to_string(status) + ", retried)",
                ErrorClass::retryable);
  }
  if (result == CURLE_OPERATION_TIMEDOUT) throw Error(ErrorCode::timeout, why, ErrorClass::timeout);
  throw Error(ErrorCode::provider, why, ErrorClass::retryable);
}

Json email_step(Context& ctx, std::string_view name, const SmtpConfig& config,
                const EmailMessage& message, std::optional<RetryPolicy> retry) {
  std::string message_id = ctx.run_id() + "." + std::string(name) + "@storyloom";
  for (char& c : message_id) {
    if (c == ' ' || c == '<' || c == '>' || c == '/') c = '-';
  }
  return ctx.step(name, [&] { return send_email(config, message, message_id); }, retry);
}

}  // namespace storyloom
