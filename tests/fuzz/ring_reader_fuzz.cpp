// libFuzzer target: the ring reader against arbitrary file contents. Every input is read as
// a whole ring file image (open_bytes, then poll until nothing is new). Seeds in
// corpus/ring_reader are real ring files, so mutations explore damaged site tables, slot
// headers, block headers and records, not only the header checks. A second reader keeps the
// arguments encoded (ReadFilter::encoded) and writes each record's JSON and logfmt lines from
// them, which must be those of the record decoded.
//
//   clang: build with -DBLACKBOX_FUZZ=ON, run ring_reader_fuzz corpus/ring_reader -max_len=409600
//   CI replays the corpus in every build (ring_reader_corpus test) and fuzzes for 45 s.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "blackbox/reader.hpp"
#include "encoded_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> image(size);
  if (size != 0) std::memcpy(image.data(), data, size);
  std::string error;
  auto reader = blackbox::RingReader::open_bytes(std::move(image), &error);
  if (!reader) {
    if (error.empty()) __builtin_trap();  // a refusal must always say why
    return 0;
  }
  if (auto encoded = blackbox::RingReader::open_bytes(
          std::vector<std::byte>(reinterpret_cast<const std::byte*>(data),
                                 reinterpret_cast<const std::byte*>(data) + size))) {
    blackbox::ReadFilter filter;
    filter.encoded = true;
    encoded->set_filter(filter);
    blackbox::fuzz::EncodedCheck check;
    encoded->poll([&check](const blackbox::Record& r) { check.check(r); });
  }
  std::uint64_t records = 0;
  for (int round = 0; round < 3; ++round) {
    reader->poll([&](const blackbox::Record& r) {
      ++records;
      // Touch everything a consumer would: views must point at live memory.
      volatile std::size_t n = r.message.size() + r.tag.size() + r.file.size() + r.function.size() +
                               r.message_template.size() + r.thread_name.size() + r.fields.size();
      (void)n;
    });
  }
  (void)reader->losses();
  (void)reader->info();
  (void)reader->telemetry();
  (void)reader->levels();
  if (auto m = reader->metrics(&error); m) {
    for (const blackbox::MetricValue& v : m->metrics) {
      volatile std::size_t n =
          v.identity().size() + v.help.size() + v.text.size() + v.histogram.count();
      (void)n;
    }
  }
  return 0;
}
