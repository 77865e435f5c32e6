#include "image/image_providers.h"

#include <algorithm>

#include "common/named_providers.h"

namespace storyloom::detail {

ImageProviders::ImageProviders(const ImageOptions& options, ResourceLimiter& limiter,
                               const std::function<const char*(const char*)>& getenv)
    : drawer_(options.offline_drawer) {
  if (options.use_environment) providers_ = image_providers_from_environment(getenv);
  put_providers_by_name(providers_, options.providers, "an image provider");
  if (!has_provider(providers_, "offline")) {
    ImageProviderConfig offline;
    offline.name = "offline";
    offline.kind = ImageProviderKind::offline;
    offline.size = "512x384";
    providers_.push_back(offline);
  }
  for (auto& p : providers_) {
    if (p.kind == ImageProviderKind::offline && p.model.empty()) p.model = "offline-placeholder";
    std::string where = "image provider '" + p.name + "'";
    if (p.kind == ImageProviderKind::openai && p.base_url.empty() && p.api_key.empty()) {
      throw Error(ErrorCode::invalid_argument,
                  where + " has no api_key and no base_url (a public endpoint needs a key)");
    }
    if (!p.base_url.empty() && p.base_url.rfind("http://", 0) != 0 &&
        p.base_url.rfind("https://", 0) != 0) {
      throw Error(ErrorCode::invalid_argument,
                  where + ": base_url '" + p.base_url + "' must start with http:// or https://");
    }
    parse_image_size(p.size, where + ": size");
    if (p.connect_timeout.count() < 1 || p.idle_timeout.count() < 0) {
      throw Error(ErrorCode::invalid_argument,
                  where + ": connect_timeout must be at least 1 ms and idle_timeout at least 0");
    }
    std::string resource = resource_of(p);
    auto names = limiter.names();
    if (std::find(names.begin(), names.end(), resource) == names.end()) {
      limiter.configure(resource, ResourceLimits{});
    }
    if (!p.api_key.empty()) secrets_.push_back(p.api_key);
  }
  default_provider_ = options.default_provider;
  if (default_provider_.empty()) {
    const char* chosen = getenv("STORYLOOM_IMAGE_PROVIDER");
    if (chosen && *chosen) default_provider_ = chosen;
  }
  if (default_provider_.empty()) default_provider_ = "offline";
  provider(default_provider_);  // throws when it names no provider
}

const ImageProviderConfig& ImageProviders::provider(const std::string& name) const {
  const std::string& wanted = name.empty() ? default_provider_ : name;
  for (const auto& p : providers_) {
    if (p.name == wanted) return p;
  }
  std::string known;
  for (const auto& p : providers_) known += (known.empty() ? "" : ", ") + p.name;
  throw Error(ErrorCode::not_found,
              "no image provider '" + wanted + "' is configured (configured: " + known + ")");
}

std::string ImageProviders::model_for(const ImageRequest& request) const {
  return request.model.empty() ? provider(request.provider).model : request.model;
}

std::string ImageProviders::size_for(const ImageRequest& request) const {
  return request.size.empty() ? provider(request.provider).size : request.size;
}

std::string ImageProviders::resource_of(const ImageProviderConfig& p) {
  return p.resource.empty() ? "image:" + p.name : p.resource;
}

Json ImageProviders::describe() const {
  boost::json::array list;
  for (const auto& p : providers_) {
    list.push_back(boost::json::object{
        {"name", p.name},
        {"kind", p.kind == ImageProviderKind::offline ? "offline" : "openai"},
        {"base_url", p.base_url},
        {"model", p.model},
        {"size", p.size},
        {"resource", resource_of(p)},
        {"has_key", !p.api_key.empty()}});
  }
  return boost::json::object{{"default", default_provider_}, {"providers", std::move(list)}};
}

}  // namespace storyloom::detail
