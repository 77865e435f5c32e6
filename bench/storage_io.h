// What a measurement costs the disk: bytes this process handed to write()
// (from /proc/self/io), and the largest size a store's WAL file reached.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace storyloom::bench {

// Bytes passed to write/pwrite by this process so far ("wchar"); 0 when the
// kernel does not say.
int64_t process_bytes_written();

// Samples the size of `path` (a "-wal" file) every few milliseconds on its
// own thread until stop() or destruction; max_bytes() is the largest seen.
class FileSizeWatcher {
 public:
  explicit FileSizeWatcher(std::string path);
  ~FileSizeWatcher();
  FileSizeWatcher(const FileSizeWatcher&) = delete;
  FileSizeWatcher& operator=(const FileSizeWatcher&) = delete;
  void stop();
  int64_t max_bytes() const { return max_.load(); }

 private:
  std::string path_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_{0};
  std::thread thread_;
};

}  // namespace storyloom::bench
