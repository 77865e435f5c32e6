#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/version.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench.h"
#include "stats.h"

namespace storyloom::bench {
namespace {

std::string cpuinfo_field(const std::string& field) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

int64_t mem_total_mb() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemTotal:") return kb / 1024;
  }
  return 0;
}

std::string fs_type(const std::string& path) {
  struct statfs s {};
  if (statfs(path.c_str(), &s) != 0) return "unknown";
  auto magic = static_cast<unsigned long>(s.f_type);
  if (magic == 0xEF53) return "ext4";
  if (magic == 0x01021994) return "tmpfs";
  if (magic == 0x794c7630) return "overlayfs";
  if (magic == 0x58465342) return "xfs";
  if (magic == 0x9123683E) return "btrfs";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%lx", magic);
  return buf;
}

double load_1m() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return load;
}

double cpu_seconds() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

}  // namespace

Conditions::Conditions() : wall_ns_(steady_ns()), cpu_s_(cpu_seconds()), load_(load_1m()) {}

double Conditions::process_cpu_seconds() const { return cpu_seconds() - cpu_s_; }

boost::json::object Conditions::finish() const {
  return {{"wall_s", round3(static_cast<double>(steady_ns() - wall_ns_) / 1e9)},
          {"process_cpu_s", round3(process_cpu_seconds())},
          {"load_1m_before", load_},
          {"load_1m_after", load_1m()}};
}

TempStore::TempStore(const std::string& parent_dir) {
  std::string tmpl = (std::filesystem::path(parent_dir) / "storyloom-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("cannot create a temporary directory under " + parent_dir);
  }
  dir_ = tmpl;
}

TempStore::~TempStore() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string TempStore::spec() const { return "sqlite:" + dir_ + "/bench.db"; }

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit,
                std::chrono::microseconds every) {
  auto deadline = SteadyClock::now() + limit;
  while (SteadyClock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return done();
}

boost::json::object machine_info(const std::string& tmp_dir) {
  boost::json::object m;
  m["nproc"] = sysconf(_SC_NPROCESSORS_ONLN);
  m["hardware_concurrency"] = std::thread::hardware_concurrency();
  m["cpu_model"] = cpuinfo_field("model name");
  m["mem_total_mb"] = mem_total_mb();
  struct utsname u {};
  if (uname(&u) == 0) {
    m["kernel"] = std::string(u.sysname) + " " + u.release;
    m["arch"] = u.machine;
  }
  m["compiler"] = "gcc " __VERSION__;
  m["build_type"] = STORYLOOM_BENCH_BUILD_TYPE;
#ifdef NDEBUG
  m["ndebug"] = true;
#else
  m["ndebug"] = false;
#endif
  m["sqlite_version"] = sqlite3_libversion();
  m["boost_version"] = BOOST_LIB_VERSION;
  std::ifstream loadavg("/proc/loadavg");
  std::string load1, load5, load15;
  loadavg >> load1 >> load5 >> load15;
  m["loadavg_at_start"] = load1 + " " + load5 + " " + load15;
  m["tmp_dir"] = tmp_dir;
  m["tmp_fs"] = fs_type(tmp_dir);
  if (const char* rev = std::getenv("STORYLOOM_GIT_REV")) m["git_rev"] = rev;
  return m;
}

}  // namespace storyloom::bench
