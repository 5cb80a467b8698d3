// Before: a batch job that logs with printf (docs/migrating.md, step 0).
#include <cstdio>

int main() {
  const char* files[] = {"orders.csv", "users.csv", "stock.csv"};
  const int jobs = 3;
  std::printf("starting %d jobs\n", jobs);
  for (int i = 0; i < jobs; ++i) {
    const double ms = 1.25 * (i + 1);
    std::printf("job %d: %s done in %.2f ms\n", i, files[i], ms);
    if (i == 1) std::fprintf(stderr, "job %d used %5.1f%% of its budget\n", i, 87.5);
  }
  std::printf("all %d jobs done\n", jobs);
  return 0;
}
