#include "storage_io.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace storyloom::bench {

int64_t process_bytes_written() {
  std::ifstream in("/proc/self/io");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("wchar:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

FileSizeWatcher::FileSizeWatcher(std::string path) : path_(std::move(path)) {
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      std::error_code ec;
      auto size = std::filesystem::file_size(path_, ec);
      if (!ec && static_cast<int64_t>(size) > max_.load()) max_ = static_cast<int64_t>(size);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
}

FileSizeWatcher::~FileSizeWatcher() { stop(); }

void FileSizeWatcher::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace storyloom::bench
