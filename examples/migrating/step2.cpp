// Step 2, at leisure (docs/migrating.md): templates with named fields, so that logcat can
// filter on them (--field job=1) and JSON output carries them typed. Same messages.
#define BBX_TAG "jobs"
#include <blackbox/blackbox.hpp>

int main() {
  const char* files[] = {"orders.csv", "users.csv", "stock.csv"};
  const int jobs = 3;
  BBX_INFO("starting {jobs} jobs", jobs);
  for (int i = 0; i < jobs; ++i) {
    const double ms = 1.25 * (i + 1);
    BBX_INFO("job {job}: {file} done in {ms:.2f} ms", i, files[i], ms);
    if (i == 1) BBX_WARN("job {job} used {budget_pct:5.1f}% of its budget", i, 87.5);
  }
  BBX_INFO("all {jobs} jobs done", jobs);
  return 0;
}
