// Retention holds (blackbox/retention.hpp), as the flusher's retention reads them.
#pragma once

#include <cstdint>
#include <optional>

namespace blackbox::archive {

// The oldest hold's through_ns among the holds in the directory `dir_fd`; none if no hold.
[[nodiscard]] std::optional<std::int64_t> oldest_hold(int dir_fd);

}  // namespace blackbox::archive
