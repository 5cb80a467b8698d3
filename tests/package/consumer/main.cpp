// Logs, opens a span in another translation unit, and reads the records back: proves
// headers, library and dependencies link at the consumer's own optimisation level (a
// program and a library built at different levels must link: the USDT semaphores of
// blackbox/detail/probes.hpp, defined in every unit, once were in groups that did not merge).
#include <blackbox/blackbox.hpp>
#include <blackbox/reader.hpp>
#include <cstdio>

int charge(int order);  // work.cpp

int main() {
  BBX_INFO("hello from a consumer {}", 42);
  if (charge(7) != 7) return 3;
  auto reader = blackbox::RingReader::open_self();
  if (!reader) return 1;
  const auto records = reader->read_sorted();
  // The hello, the span's start, its warning, its end.
  if (records.size() != 4 || records[0].message != "hello from a consumer 42") {
    std::fprintf(stderr, "read %zu records\n", records.size());
    for (const auto& r : records) std::fprintf(stderr, "  %s\n", r.message.c_str());
    return 2;
  }
  std::puts(records[0].message.c_str());
  return 0;
}
