// A small tmpfs for full-disk tests: mounted at a path, filled with a ballast
// file until no space is left, emptied again, unmounted at the end.
// Mounting needs root (CI runs as root); check mounted() and skip otherwise.
#pragma once

#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace storyloom::testing {

class SmallDisk {
 public:
  SmallDisk(const std::string& path, size_t bytes) : path_(path) {
    std::filesystem::create_directories(path);
    std::string options = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool mounted() const { return mounted_; }
  // Writes a ballast file until the disk is full.
  void fill() {
    std::ofstream out(path_ + "/ballast", std::ios::binary | std::ios::app);
    std::string block(64 * 1024, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
  }
  void make_room() { std::filesystem::remove(path_ + "/ballast"); }

 private:
  std::string path_;
  bool mounted_ = false;
};

}  // namespace storyloom::testing
