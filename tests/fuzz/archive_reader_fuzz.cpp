// libFuzzer target: the archive reader against arbitrary archives.
//
// Random bytes almost never carry valid XXH3 checksums, so fed raw they would only ever
// exercise the frame scanner (fuzzed on its own). This target reads its input as a list
// of items and builds an archive from them, framing payloads with valid checksums and
// compressing chunk bodies, so the fuzzer reaches every payload parser behind the frames:
//   0x00 u16 n, n bytes              appended raw (damage between frames)
//   0x01 u16 type, u16 n, n bytes    one frame of `type` with this payload
//   0x02 u16 n, u16 m, n + m bytes   a chunk frame: n bytes of index (and thread ids) as
//                                    given (with a right index check if the index says it
//                                    has one), then the m-byte body compressed with zstd;
//        [u16 s]                     if the index says codec 2 (kCodecBits): its body_bytes
//                                    is set to m, and the payload is u32 s, the body's
//                                    first s bytes, then the rest compressed (chunk_body.hpp)
// Each archive is read twice: in memory (scanned) and as a file (skimmed: frame headers and
// checked chunk indexes first, chunk bodies checked only when read).
// The first byte chooses options (bit 0: filter by a trace id; bit 1: by call site, which
// lets chunk filter frames rule chunks out; bit 2: by a time window and a thread, checked
// before arguments are decoded). The in-memory read keeps arguments encoded
// (ReadFilter::encoded) and writes each record's JSON and logfmt lines from them, which must
// be those of the record decoded. Invariants: no crash, no sanitizer report, every damaged
// range inside the image, every record's fields match its template's placeholders.
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/reader.hpp"
#include "encoded_check.hpp"
#include "format/archive_format.hpp"
#include "format/frame.hpp"

namespace {

struct Input {
  const std::uint8_t* p;
  std::size_t left;
  bool take(void* out, std::size_t n) {
    if (left < n) return false;
    std::memcpy(out, p, n);
    p += n;
    left -= n;
    return true;
  }
};

std::vector<std::byte> build(Input in, std::uint8_t& options) {
  std::vector<std::byte> image;
  options = 0;
  (void)in.take(&options, 1);
  std::uint8_t kind;
  while (in.take(&kind, 1)) {
    std::uint16_t type = 3, n = 0, m = 0;
    if (kind % 3 == 1 && !in.take(&type, 2)) break;
    if (!in.take(&n, 2)) break;
    if (kind % 3 == 2 && !in.take(&m, 2)) break;
    n = static_cast<std::uint16_t>(std::min<std::size_t>(n, in.left));
    std::vector<std::byte> payload(reinterpret_cast<const std::byte*>(in.p),
                                   reinterpret_cast<const std::byte*>(in.p) + n);
    in.p += n;
    in.left -= n;
    if (kind % 3 == 0) {
      image.insert(image.end(), payload.begin(), payload.end());
      continue;
    }
    if (kind % 3 == 2) {
      m = static_cast<std::uint16_t>(std::min<std::size_t>(m, in.left));
      const std::uint8_t* body = in.p;
      in.p += m;
      in.left -= m;
      std::uint32_t fixed = 0;
      std::uint16_t tid_count = 0;
      std::uint8_t codec = 0;
      if (n >= sizeof(blackbox::archive::ChunkIndex)) {
        std::memcpy(&fixed, payload.data(), 4);
        std::memcpy(&tid_count, payload.data() + 60, 2);
        codec = static_cast<std::uint8_t>(payload[62]);
      }
      // Codec 2: the body's first s bytes are stored as they are.
      std::uint16_t stored = 0;
      const bool bits = codec == blackbox::archive::kCodecBits;
      if (bits) {
        if (!in.take(&stored, 2)) stored = 0;
        stored = std::min(stored, m);
        const std::uint32_t body_bytes = m;
        std::memcpy(payload.data() + 56, &body_bytes, 4);
      }
      // An index that says it has an index check gets a right one, so that a skim trusts it.
      if (fixed >= sizeof(blackbox::archive::ChunkIndex) &&
          std::uint64_t{fixed} + 4u * tid_count <= n) {
        const std::uint64_t check = blackbox::archive::chunk_index_check(
            payload.data(), payload.data() + fixed, 4u * tid_count);
        std::memcpy(payload.data() + 96, &check, 8);
      }
      if (bits) {
        const std::uint32_t s32 = stored;
        const auto* s_bytes = reinterpret_cast<const std::byte*>(&s32);
        payload.insert(payload.end(), s_bytes, s_bytes + 4);
        payload.insert(payload.end(), reinterpret_cast<const std::byte*>(body),
                       reinterpret_cast<const std::byte*>(body) + stored);
      }
      const std::size_t rest = m - stored;
      if (!bits || rest != 0 || stored == 0) {
        std::vector<std::byte> z(ZSTD_compressBound(rest));
        const std::size_t zn = ZSTD_compress(z.data(), z.size(), body + stored, rest, 1);
        if (ZSTD_isError(zn)) continue;
        payload.insert(payload.end(), z.begin(), z.begin() + static_cast<std::ptrdiff_t>(zn));
      }
    }
    (void)blackbox::archive::append_frame(image, type, 0, payload);
  }
  return image;
}

// Reads `reader` as the options say and checks the invariants.
void read_all(blackbox::ArchiveReader& reader, const std::uint8_t* data, std::size_t size,
              std::uint8_t options, std::size_t image_size, bool encoded) {
  blackbox::ReadFilter filter;
  filter.encoded = encoded;
  if ((options & 1) != 0) {
    std::array<std::uint8_t, 16> id{};
    std::memcpy(id.data(), data + 1, std::min<std::size_t>(size > 1 ? size - 1 : 0, 16));
    filter.trace_id = id;
  }
  if ((options & 2) != 0) {
    filter.site = [](std::string_view tag, blackbox::Level level) {
      return tag.size() % 2 == 0 || level >= blackbox::Level::error;
    };
  }
  if ((options & 4) != 0) {
    filter.since_ns = 1'000'000'000'000'000'000;  // 2001 onwards, before 2033
    filter.until_ns = 2'000'000'000'000'000'000;
    filter.tids = {static_cast<std::uint32_t>(options >> 3) * 1000u, 1u};
  }
  reader.set_filter(std::move(filter));
  blackbox::fuzz::EncodedCheck encoded_check;
  reader.poll([&](const blackbox::Record& r) {
    if (r.site_owner == nullptr) __builtin_trap();
    volatile std::size_t sink = r.message.size() + r.tag.size() + r.file.size();
    (void)sink;
    if (encoded) encoded_check.check(r);
  });
  for (const auto& d : reader.damage()) {
    if (d.offset > image_size || d.length > image_size - d.offset) __builtin_trap();
  }
  (void)reader.losses();
  (void)reader.files();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint8_t options = 0;
  std::vector<std::byte> image = build(Input{data, size}, options);
  // In memory, then as a file: a reader skims a file (frame headers, and chunk indexes
  // with a good index check, before any body), and scans an image.
  static const std::string path = [] {
    char name[] = "/tmp/bbx-fuzz-XXXXXX";
    const int fd = mkstemp(name);
    if (fd >= 0) close(fd);
    return std::string(name);
  }();
  if (FILE* out = std::fopen(path.c_str(), "wb")) {
    const bool written = std::fwrite(image.data(), 1, image.size(), out) == image.size();
    if (std::fclose(out) == 0 && written) {
      if (auto file = blackbox::ArchiveReader::open(path)) {
        read_all(*file, data, size, options, image.size(), false);
      }
    }
  }
  const std::size_t image_size = image.size();
  auto reader = blackbox::ArchiveReader::open_bytes(std::move(image), "fuzz");
  read_all(*reader, data, size, options, image_size, true);
  return 0;
}
