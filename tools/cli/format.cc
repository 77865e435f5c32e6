#include "format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace storyloom::cli {
namespace {

void append_indent(std::string& out, int depth) { out.append(static_cast<size_t>(depth) * 2, ' '); }

void append_pretty(std::string& out, const Json& value, int depth) {
  if (value.is_object() && !value.get_object().empty()) {
    const auto& object = value.get_object();
    out += "{\n";
    size_t i = 0;
    for (const auto& member : object) {
      append_indent(out, depth + 1);
      out += boost::json::serialize(boost::json::string(member.key()));
      out += ": ";
      append_pretty(out, member.value(), depth + 1);
      out += ++i < object.size() ? ",\n" : "\n";
    }
    append_indent(out, depth);
    out += '}';
  } else if (value.is_array() && !value.get_array().empty()) {
    const auto& array = value.get_array();
    out += "[\n";
    for (size_t i = 0; i < array.size(); ++i) {
      append_indent(out, depth + 1);
      append_pretty(out, array[i], depth + 1);
      out += i + 1 < array.size() ? ",\n" : "\n";
    }
    append_indent(out, depth);
    out += ']';
  } else {
    out += boost::json::serialize(value);  // scalars, {} and []
  }
}

std::string pad(const std::string& text, size_t width) {
  std::string out = text;
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

}  // namespace

std::string format_time(int64_t ms) {
  if (ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof(millis), ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(date) + millis;
}

std::string pretty_json(const Json& value) {
  std::string out;
  append_pretty(out, value, 0);
  out += '\n';
  return out;
}

Json snapshot_json(const Snapshot& snapshot) {
  Json out = to_json(snapshot.run);
  boost::json::array steps;
  for (const auto& step : snapshot.steps) steps.push_back(to_json(step));
  auto& object = out.as_object();
  object["last_event_id"] = snapshot.last_event_id;
  object["steps"] = std::move(steps);
  // What the llm steps used and, for a run started with a budget, what is left.
  object["usage"] = to_json(snapshot.usage);
  object["budget"] = budget_status_json(snapshot.run.budget, snapshot.usage);
  return out;
}

std::string run_table(const std::vector<RunInfo>& runs) {
  struct Row {
    std::string cells[5];
  };
  std::vector<Row> rows;
  size_t widths[5] = {0, 0, 0, 0, 0};
  for (const auto& run : runs) {
    Row row{{run.id, to_string(run.status), run.workflow, run.owner.empty() ? "-" : run.owner,
             format_time(run.created_at_ms)}};
    for (size_t i = 0; i < 5; ++i) widths[i] = std::max(widths[i], row.cells[i].size());
    rows.push_back(std::move(row));
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    for (size_t i = 0; i < 4; ++i) out += pad(row.cells[i], widths[i]) + "  ";
    out += row.cells[4];
    // A row the store cannot decode: listed, and marked with the reason.
    if (!runs[r].unreadable.empty()) out += "  UNREADABLE: " + runs[r].unreadable;
    out += "\n";
  }
  return out;
}

std::string event_json_line(const Event& event) {
  switch (event.kind) {
    case EventKind::cursor:
      return {};
    case EventKind::transient:
      return boost::json::serialize(boost::json::object{{"id", nullptr},
                                                        {"type", event.type},
                                                        {"data", event.data},
                                                        {"transient", true}}) +
             "\n";
    case EventKind::stored:
      break;
  }
  return boost::json::serialize(
             boost::json::object{{"id", event.id}, {"type", event.type}, {"data", event.data}}) +
         "\n";
}

TerminalSafeBuf::~TerminalSafeBuf() {
  if (pending_c2_) put('\xc2');  // a lone 0xC2 at the end is not a control
}

bool TerminalSafeBuf::put(char c) {
  return to_->sputc(c) != traits_type::eof();
}

bool TerminalSafeBuf::put_escaped(unsigned char c) {
  static const char* hex = "0123456789abcdef";
  const char text[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
  return to_->sputn(text, 6) == 6;
}

int TerminalSafeBuf::overflow(int ch) {
  if (ch == traits_type::eof()) return traits_type::not_eof(ch);
  auto c = static_cast<unsigned char>(ch);
  bool ok = true;
  if (pending_c2_) {
    pending_c2_ = false;
    if (c >= 0x80 && c <= 0x9f) return put_escaped(c) ? ch : traits_type::eof();
    ok = put('\xc2');
  }
  if (c == 0xc2) {
    pending_c2_ = true;
  } else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
    ok = ok && put_escaped(c);
  } else {
    ok = ok && put(static_cast<char>(c));
  }
  return ok ? ch : traits_type::eof();
}

int TerminalSafeBuf::sync() { return to_->pubsync(); }

std::string terminal_safe(std::string_view text) {
  std::ostringstream out;
  {
    TerminalSafeBuf buf(out.rdbuf());
    std::ostream safe(&buf);
    safe << text;
    safe.flush();
  }
  return out.str();
}

std::string artifact_json_line(const ArtifactInfo& artifact) {
  return boost::json::serialize(to_json(artifact)) + "\n";
}

}  // namespace storyloom::cli
