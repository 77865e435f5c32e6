// Image providers configured by environment variables, as the llm step's are.
#include "storyloom/image.h"

namespace storyloom {
namespace {

std::string read(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* v = getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace

std::vector<ImageProviderConfig> image_providers_from_environment(
    const std::function<const char*(const char*)>& getenv) {
  std::vector<ImageProviderConfig> out;
  std::string key = read(getenv, "OPENAI_API_KEY");
  std::string base_url = read(getenv, "OPENAI_BASE_URL");
  if (!key.empty() || !base_url.empty()) {
    ImageProviderConfig openai;
    openai.name = "openai";
    openai.kind = ImageProviderKind::openai;
    openai.api_key = std::move(key);
    openai.base_url = std::move(base_url);
    openai.model = read(getenv, "OPENAI_IMAGE_MODEL");
    if (openai.model.empty()) openai.model = "dall-e-3";
    std::string size = read(getenv, "OPENAI_IMAGE_SIZE");
    if (!size.empty()) openai.size = size;
    out.push_back(std::move(openai));
  }
  ImageProviderConfig offline;
  offline.name = "offline";
  offline.kind = ImageProviderKind::offline;
  offline.model = "offline-placeholder";
  offline.size = "512x384";
  out.push_back(std::move(offline));
  return out;
}

}  // namespace storyloom
