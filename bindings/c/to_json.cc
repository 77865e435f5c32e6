#include "to_json.h"

namespace storyloom::capi {
namespace {

template <class T>
Json array_of(const std::vector<T>& items) {
  boost::json::array out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(to_json(item));
  return out;
}

}  // namespace

Json artifacts_json(const std::vector<ArtifactInfo>& artifacts) { return array_of(artifacts); }
Json events_json(const std::vector<Event>& events) { return array_of(events); }

Json error_json(const Error& error) {
  return boost::json::object{{"code", to_string(error.code())},
                             {"class", to_string(error.error_class())},
                             {"message", error.what()}};
}

}  // namespace storyloom::capi
