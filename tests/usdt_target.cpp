// The program the USDT tests (usdt_test.cpp) and docs/tracing.md's one-liners attach to.
// Its level is info. It says "ready", waits for a line on stdin, then until a tracer has
// attached every location of the probes named as PROBE=LOCATIONS (the probes' semaphores
// count them: so nothing is logged before every probe is in place), then:
//   N times: a disabled debug line of tag "net" ("disabled {id} to {peer}", id = i, peer
//            "10.0.0.7") and an enabled info line of tag "http" ("served {id}", id = i);
//   N / 10 spans "db.query" (BBX_SPAN), each with one record inside;
// says "done" on stdout, and exits when stdin closes.
//   blackbox_usdt_target N [PROBE=LOCATIONS]...
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "blackbox/blackbox.hpp"
#include "blackbox/span.hpp"

int main(int argc, char** argv) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "usdt-target";
  config.levels = "info";
  config.console = "off";
  if (!blackbox::init(config).ok()) return 3;
  const long n = argc > 1 ? std::atol(argv[1]) : 1000;
  std::printf("ready\n");
  std::fflush(stdout);
  char line[64];
  if (std::fgets(line, sizeof line, stdin) == nullptr) return 1;
  for (int i = 2; i < argc; ++i) {
    const char* eq = std::strchr(argv[i], '=');
    if (eq == nullptr) return 2;
    const std::string probe(argv[i], static_cast<std::size_t>(eq - argv[i]));
    const unsigned want = static_cast<unsigned>(std::atoi(eq + 1));
    // record: this program's call sites (its copy of the semaphore); the others are the
    // library's (its copy: the same one when it is linked in statically).
    auto attached = [&]() -> unsigned {
#if BBX_HAVE_USDT
      if (probe == "record") return blackbox_record_semaphore;
#endif
      return blackbox::detail::probe_semaphore(probe.c_str());
    };
    // Waits for the tracer (a minute at most: a guard against a hang, not a timing).
    for (int ms = 0; attached() < want; ++ms) {
      if (ms == 60'000) {
        std::printf("gave up waiting for %s: %u of %u\n", probe.c_str(), attached(), want);
        return 4;
      }
      const timespec pause{0, 1'000'000};
      nanosleep(&pause, nullptr);
    }
  }
  for (long i = 0; i < n; ++i) {
    BBX_LOG("net", blackbox::Level::debug, "disabled {id} to {peer}", i, "10.0.0.7");
    BBX_LOG("http", blackbox::Level::info, "served {id}", i);
  }
  for (long i = 0; i < n / 10; ++i) {
    BBX_SPAN("db.query");
    BBX_LOG("db", blackbox::Level::info, "rows {rows}", i);
  }
  std::printf("done\n");
  std::fflush(stdout);
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
  }
  return 0;
}
