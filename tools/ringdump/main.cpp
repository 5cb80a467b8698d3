// bbx-ringdump FILE|PID...: parses the command line and dispatches (ringdump.cpp).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../common/truncation_guard.hpp"
#include "blackbox/config.hpp"
#include "ringdump.hpp"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: bbx-ringdump FILE|PID...\n"
               "  prints a blackbox ring file or dump: its header, every record, and what\n"
               "  was lost. A PID is looked up in the ring directory ($BBX_DIR, default\n"
               "  %s).\n",
               blackbox::Config::default_dir().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  blackbox::tools::install_truncation_guard("bbx-ringdump");
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (argv[i][0] == '-' && argv[i][1] != '\0') {
      std::fprintf(stderr, "bbx-ringdump: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  const char* env_dir = std::getenv("BBX_DIR");
  const std::string dir =
      env_dir != nullptr && *env_dir != '\0' ? env_dir : blackbox::Config::default_dir();
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    char* end = nullptr;
    const long pid = std::strtol(arg.c_str(), &end, 10);
    if (!arg.empty() && *end == '\0') {
      const auto rings = blackbox::tools::rings_of_pid(dir, pid);
      if (rings.empty()) {
        std::fprintf(stderr, "bbx-ringdump: no ring file of pid %ld in %s\n", pid, dir.c_str());
        ok = false;
      }
      for (const auto& r : rings) ok = blackbox::tools::dump_ring(r, stdout, stderr) && ok;
    } else {
      ok = blackbox::tools::dump_ring(arg, stdout, stderr) && ok;
    }
  }
  return ok ? 0 : 1;
}
