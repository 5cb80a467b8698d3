// The library's copy of the USDT semaphores (blackbox/detail/probes.hpp).
#include "blackbox/detail/probes.hpp"

#include <cstring>

namespace blackbox::detail {

unsigned probe_semaphore(const char* name) noexcept {
#if BBX_HAVE_USDT
  if (std::strcmp(name, "record") == 0) return blackbox_record_semaphore;
  if (std::strcmp(name, "span_start") == 0) return blackbox_span_start_semaphore;
  if (std::strcmp(name, "span_end") == 0) return blackbox_span_end_semaphore;
  if (std::strcmp(name, "loss") == 0) return blackbox_loss_semaphore;
  if (std::strcmp(name, "crash") == 0) return blackbox_crash_semaphore;
#else
  (void)name;
#endif
  return 0;
}

}  // namespace blackbox::detail
