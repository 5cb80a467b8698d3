#include "sys/say.hpp"

#include <unistd.h>

namespace blackbox::sys {

void say(const std::string& message) {
  const std::string line = "blackbox: " + message + "\n";
  [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace blackbox::sys
