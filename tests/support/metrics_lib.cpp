// A shared library that declares the same metric as metrics_test's main program: one metric
// per process, whichever module declares it (the registry is the library's).
#include <cstdint>

#include "blackbox/metrics.hpp"

extern "C" [[gnu::visibility("default")]] void bbx_metrics_lib_add(std::uint64_t n) {
  static const blackbox::Counter calls{"lib.calls", {{"lib", "metrics_lib"}}};
  calls.add(n);
}
