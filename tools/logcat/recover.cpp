// `logcat recover`: recovers the ring files dead processes left (blackbox/recovery.hpp).
#include <cstdio>

#include "blackbox/recovery.hpp"
#include "commands.hpp"

namespace logcat {

int run_recover(const std::string& ring_dir, const std::string& archive_dir,
                const std::string& app) {
  blackbox::Config config = blackbox::Config::from_env();
  if (!archive_dir.empty()) config.archive_dir = archive_dir;
  if (config.archive_dir.empty()) {
    std::fprintf(stderr, "logcat: recover: no archive directory (archiving is off)\n");
    return 2;
  }
  const std::string dir = ring_dir.empty() ? config.dir : ring_dir;
  const auto results = blackbox::recover_dead_rings(dir, config, app);
  if (results.empty()) std::printf("no ring files in %s\n", dir.c_str());
  int rc = 0;
  for (const auto& r : results) {
    std::printf("%s\n", r.describe().c_str());
    if (r.outcome == blackbox::RecoveredRing::Outcome::failed) rc = 1;
  }
  return rc;
}

}  // namespace logcat
