// bbx-ringdump FILE|PID...: parses the command line and dispatches (ringdump.cpp).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ringdump.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bbx-ringdump FILE|PID...\n"
                 "  prints a blackbox ring file (a PID is looked up in $BBX_DIR,\n"
                 "  default /dev/shm/blackbox)\n");
    return 2;
  }
  const char* env_dir = std::getenv("BBX_DIR");
  const std::string dir = env_dir != nullptr ? env_dir : "/dev/shm/blackbox";
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
