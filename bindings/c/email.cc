// sl_email_send: one email over SMTP (storyloom/email.h), for hosts whose
// steps send "your story is ready".
#include <string>

#include "args.h"
#include "status.h"
#include "storyloom/email.h"

using storyloom::capi::Args;
using storyloom::capi::guarded;
using storyloom::capi::OutText;
using namespace storyloom;

namespace {

std::string text_at(const Args& args, const boost::json::object& o, const char* key, const char* where) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) args.invalid(std::string(where) + "." + key + " must be a string");
  return std::string(v->as_string());
}

}  // namespace

SL_API int sl_email_send(char** result_json, size_t* result_json_len, const char* config_json,
                         size_t config_len, const char* message_json, size_t message_len,
                         const char* message_id, size_t message_id_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, result_json, result_json_len, "result_json");
    Json config = args.json(config_json, config_len, "config_json");
    Json message = args.json(message_json, message_len, "message_json");
    if (!config.is_object()) args.invalid("config_json must be a JSON object");
    if (!message.is_object()) args.invalid("message_json must be a JSON object");
    // Missing fields come from the environment (SMTP_URL, SMTP_FROM, ...).
    SmtpConfig smtp = smtp_config_from_environment();
    const auto& c = config.as_object();
    for (const auto& [key, value] : c) {
      std::string k(key);
      if (k != "url" && k != "from" && k != "username" && k != "password" && k != "require_starttls" &&
          k != "timeout_ms") {
        args.invalid("config_json has an unknown key '" + k + "'");
      }
    }
    if (auto v = text_at(args, c, "url", "config"); !v.empty()) smtp.url = v;
    if (auto v = text_at(args, c, "from", "config"); !v.empty()) smtp.from = v;
    if (auto v = text_at(args, c, "username", "config"); !v.empty()) smtp.username = v;
    if (auto v = text_at(args, c, "password", "config"); !v.empty()) smtp.password = v;
    if (const auto* v = c.if_contains("require_starttls"); v && v->is_bool()) smtp.require_starttls = v->as_bool();
    if (const auto* v = c.if_contains("timeout_ms"); v && v->is_int64() && v->as_int64() > 0) {
      smtp.timeout = std::chrono::milliseconds(v->as_int64());
    }
    const auto& m = message.as_object();
    EmailMessage email;
    if (const auto* to = m.if_contains("to")) {
      if (to->is_string()) {
        email.to.emplace_back(to->as_string());
      } else if (to->is_array()) {
        for (const auto& t : to->as_array()) {
          if (!t.is_string()) args.invalid("message.to must be a string or an array of strings");
          email.to.emplace_back(t.as_string());
        }
      } else {
        args.invalid("message.to must be a string or an array of strings");
      }
    }
    email.subject = text_at(args, m, "subject", "message");
    email.text = text_at(args, m, "text", "message");
    email.html = text_at(args, m, "html", "message");
    email.link = text_at(args, m, "link", "message");
    std::string_view id = args.text(message_id, message_id_len, "message_id");
    if (id.empty()) args.invalid("message_id is empty");
    out.set_json(send_email(smtp, email, id));
  });
}
