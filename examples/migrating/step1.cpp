// Step 1, the mechanical rename (docs/migrating.md): printf becomes BBX_INFOF, fprintf to
// stderr BBX_WARNF. Same formats, same messages; now recorded, crash-safe, in the archive
// and on the terminal. The compiler checks every format against its arguments.
#define BBX_TAG "jobs"
#include <blackbox/blackbox.hpp>

int main() {
  const char* files[] = {"orders.csv", "users.csv", "stock.csv"};
  const int jobs = 3;
  BBX_INFOF("starting %d jobs\n", jobs);
  for (int i = 0; i < jobs; ++i) {
    const double ms = 1.25 * (i + 1);
    BBX_INFOF("job %d: %s done in %.2f ms\n", i, files[i], ms);
    if (i == 1) BBX_WARNF("job %d used %5.1f%% of its budget\n", i, 87.5);
  }
  BBX_INFOF("all %d jobs done\n", jobs);
  return 0;
}
