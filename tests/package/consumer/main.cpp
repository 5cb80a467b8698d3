// Logs one record and reads it back: proves headers, library and dependencies all link.
#include <blackbox/blackbox.hpp>
#include <blackbox/reader.hpp>
#include <cstdio>

int main() {
  BBX_INFO("hello from a consumer {}", 42);
  auto reader = blackbox::RingReader::open_self();
  if (!reader) return 1;
  const auto records = reader->read_sorted();
  if (records.size() != 1 || records[0].message != "hello from a consumer 42") return 2;
  std::puts(records[0].message.c_str());
  return 0;
}
