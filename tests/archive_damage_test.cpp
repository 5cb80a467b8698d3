// A damaged archive costs only its damaged frames: truncation at every position of a small
// archive and random bit flips in a larger one never crash the reader, never lose a record
// of an undamaged frame, and every damaged byte is inside a reported range.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/reader.hpp"
#include "format/archive_format.hpp"
#include "format/frame.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::ArchiveReader;
using blackbox::Record;

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

// Logs `chunks` flushes of `per_chunk` mixed records into a fresh archive, shuts the logger
// down (one test per process: CTest runs each TEST alone) and returns the archive's bytes.
std::vector<std::byte> make_archive(int chunks, int per_chunk) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "damage";
  c.archive_dir = dir;
  c.retain_bytes = 0;
  EXPECT_TRUE(blackbox::init(c).ok());
  std::uint64_t n = 0;
  for (int k = 0; k < chunks; ++k) {
    for (int i = 0; i < per_chunk; ++i, ++n) {
      switch (n % 3) {
        case 0:
          BBX_INFO("seq {n} value {v:.3f}", n, static_cast<double>(n) / 7);
          break;
        case 1:
          BBX_WARN("seq {n} name {name}", n, "name-" + std::to_string(n % 5));
          break;
        default:
          BBX_ERROR("seq {n} flag {f} small {s}", n, n % 2 == 0, static_cast<short>(-n));
          break;
      }
    }
    EXPECT_TRUE(blackbox::flush());
  }
  blackbox::shutdown();
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  EXPECT_EQ(files.size(), 1u);
  return files.empty() ? std::vector<std::byte>{} : read_file(files[0]);
}

struct FrameSpan {
  std::uint64_t offset, end;
  std::uint16_t type;
};

std::vector<FrameSpan> frames_of(const std::vector<std::byte>& bytes) {
  std::vector<FrameSpan> out;
  blackbox::archive::FrameScanner scanner(bytes);
  while (const auto f = scanner.next()) {
    out.push_back(
        {f->offset, f->offset + blackbox::archive::kFrameHeaderBytes + f->payload.size(), f->type});
  }
  EXPECT_TRUE(scanner.damage().empty());
  return out;
}

// Record numbers ("seq {n}") by the chunk frame they came from (Record::position).
std::map<std::uint64_t, std::vector<std::uint64_t>> records_by_chunk(ArchiveReader& reader) {
  std::map<std::uint64_t, std::vector<std::uint64_t>> out;
  reader.poll([&](const Record& r) {
    out[r.position].push_back(std::get<std::uint64_t>(r.fields.at(0).value));
  });
  return out;
}

constexpr auto kChunk = static_cast<std::uint16_t>(blackbox::archive::FrameType::chunk);
constexpr auto kSites = static_cast<std::uint16_t>(blackbox::archive::FrameType::sites);

TEST(ArchiveDamage, TruncationAtEveryPositionKeepsEveryCompleteFrame) {
  const std::vector<std::byte> full = make_archive(12, 5);
  ASSERT_FALSE(full.empty());
  const std::vector<FrameSpan> frames = frames_of(full);
  auto whole = ArchiveReader::open_bytes(full);
  const auto expected = records_by_chunk(*whole);
  ASSERT_EQ(expected.size(), 12u);
  for (std::size_t cut = 0; cut <= full.size(); ++cut) {
    std::vector<std::byte> part(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    auto reader = ArchiveReader::open_bytes(part, "cut");
    const auto got = records_by_chunk(*reader);
    // Every chunk that ends by the cut is there, whole; nothing else is.
    std::uint64_t complete_end = 0;
    std::size_t complete_chunks = 0;
    for (const FrameSpan& f : frames) {
      if (f.end > cut) break;
      complete_end = f.end;
      if (f.type == kChunk) {
        ++complete_chunks;
        ASSERT_EQ(got.count(f.offset), 1u) << "cut " << cut;
        ASSERT_EQ(got.at(f.offset), expected.at(f.offset)) << "cut " << cut;
      }
    }
    ASSERT_EQ(got.size(), complete_chunks) << "cut " << cut;
    // The torn tail is reported exactly; a cut between frames reports nothing.
    std::uint64_t damaged = 0;
    for (const auto& d : reader->damage()) {
      ASSERT_EQ(d.file, "cut");
      ASSERT_GE(d.offset, complete_end) << "cut " << cut;
      damaged += d.length;
    }
    ASSERT_EQ(damaged, cut - complete_end) << "cut " << cut;
  }
}

// Opens `bytes` in memory, or (via_file) as a file, which a reader skims: chunk bodies are
// checked when read, not when scanned.
std::unique_ptr<ArchiveReader> open_damaged(const std::vector<std::byte>& bytes, bool via_file,
                                            const std::string& dir) {
  if (!via_file) return ArchiveReader::open_bytes(bytes, "flipped");
  const std::string path = dir + "/flipped.bbx";
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return ArchiveReader::open(path);
}

void random_bit_flips_lose_only_the_frames_they_hit(bool via_file) {
  const std::string dir = blackbox::test::make_temp_dir("flips");
  const std::vector<std::byte> full = make_archive(150, 40);
  const std::vector<FrameSpan> frames = frames_of(full);
  auto whole = ArchiveReader::open_bytes(full);
  const auto expected = records_by_chunk(*whole);
  ASSERT_EQ(expected.size(), 150u);
  std::mt19937_64 rng(20261124);
  for (int round = 0; round < 100; ++round) {
    std::vector<std::byte> bytes = full;
    std::set<std::uint64_t> flipped;
    const int flips = 1 + static_cast<int>(rng() % 6);
    while (flipped.size() < static_cast<std::size_t>(flips)) {
      flipped.insert(rng() % bytes.size());  // distinct bytes: two flips never cancel out
    }
    for (const std::uint64_t at : flipped)
      bytes[at] ^= std::byte{static_cast<unsigned char>(1u << (rng() % 8))};
    auto reader = open_damaged(bytes, via_file, dir);
    ASSERT_NE(reader, nullptr);
    const auto got = records_by_chunk(*reader);
    auto hit = [&](const FrameSpan& f) {
      const auto it = flipped.lower_bound(f.offset);
      return it != flipped.end() && *it < f.end;
    };
    bool sites_hit = false;
    for (const FrameSpan& f : frames) {
      if (f.type == kSites && hit(f)) sites_hit = true;
      if (f.type != kChunk) continue;
      if (hit(f)) {
        EXPECT_EQ(got.count(f.offset), 0u) << "round " << round << ": a damaged chunk was read";
      } else if (!sites_hit) {
        ASSERT_EQ(got.count(f.offset), 1u) << "round " << round << ": an intact chunk was lost";
        EXPECT_EQ(got.at(f.offset), expected.at(f.offset)) << "round " << round;
      }
    }
    // Every flipped byte is inside a reported range.
    for (const std::uint64_t at : flipped) {
      const bool reported =
          std::any_of(reader->damage().begin(), reader->damage().end(),
                      [&](const auto& d) { return d.offset <= at && at < d.offset + d.length; });
      EXPECT_TRUE(reported) << "round " << round << ": byte " << at << " not reported";
    }
  }
}

TEST(ArchiveDamage, RandomBitFlipsLoseOnlyTheFramesTheyHit) {
  random_bit_flips_lose_only_the_frames_they_hit(/*via_file=*/false);
}

TEST(ArchiveDamage, RandomBitFlipsInAFileLoseOnlyTheFramesTheyHit) {
  random_bit_flips_lose_only_the_frames_they_hit(/*via_file=*/true);
}

// A file is skimmed: a chunk whose index carries its own check is indexed without its body
// being read, and the body is checked when the chunk is read. So a damaged body costs that
// chunk when it is read (reported there), and nothing when the index rules the chunk out;
// a damaged index is caught when scanning, as before.
TEST(ArchiveDamage, AChunkBodyIsCheckedWhenReadAndItsIndexWhenScanned) {
  const std::string dir = blackbox::test::make_temp_dir("skim");
  const std::vector<std::byte> full = make_archive(6, 40);
  const std::vector<FrameSpan> frames = frames_of(full);
  auto whole = ArchiveReader::open_bytes(full);
  const auto expected = records_by_chunk(*whole);
  std::vector<FrameSpan> chunks;
  for (const FrameSpan& f : frames) {
    if (f.type == kChunk) chunks.push_back(f);
  }
  ASSERT_EQ(chunks.size(), 6u);
  const FrameSpan body_hit = chunks[2], index_hit = chunks[4];
  std::vector<std::byte> bytes = full;
  bytes[body_hit.end - 1] ^= std::byte{0x10};  // the last byte of its zstd frame
  bytes[index_hit.offset + blackbox::archive::kFrameHeaderBytes + 8] ^= std::byte{0x01};  // min_ns
  {
    // Every chunk ruled out by its index (no fatal record): only the damaged index shows.
    auto reader = open_damaged(bytes, /*via_file=*/true, dir);
    ASSERT_NE(reader, nullptr);
    blackbox::ReadFilter fatal;
    fatal.min_level = blackbox::Level::fatal;
    reader->set_filter(fatal);
    reader->scan();
    ASSERT_EQ(reader->damage().size(), 1u);
    EXPECT_EQ(reader->damage()[0].offset, index_hit.offset);
    EXPECT_EQ(reader->damage()[0].length, index_hit.end - index_hit.offset);
    EXPECT_EQ(reader->damage()[0].reason, "payload checksum mismatch");
    EXPECT_EQ(reader->counters().chunks_read, 0u);
  }
  // Everything read: both damaged chunks are reported and lost, the four others are whole.
  auto reader = open_damaged(bytes, /*via_file=*/true, dir);
  ASSERT_NE(reader, nullptr);
  const auto got = records_by_chunk(*reader);
  ASSERT_EQ(reader->damage().size(), 2u);
  std::map<std::uint64_t, std::string> damaged;
  for (const auto& d : reader->damage()) {
    EXPECT_EQ(d.length, (d.offset == body_hit.offset ? body_hit : index_hit).end - d.offset);
    damaged[d.offset] = d.reason;
  }
  EXPECT_EQ(damaged[body_hit.offset], "payload checksum mismatch");
  EXPECT_EQ(damaged[index_hit.offset], "payload checksum mismatch");
  for (const FrameSpan& c : chunks) {
    if (c.offset == body_hit.offset || c.offset == index_hit.offset) {
      EXPECT_EQ(got.count(c.offset), 0u);
    } else {
      ASSERT_EQ(got.count(c.offset), 1u);
      EXPECT_EQ(got.at(c.offset), expected.at(c.offset));
    }
  }
}

TEST(ArchiveDamage, GarbageIsRejectedWithReasons) {
  std::vector<std::byte> junk(10000);
  std::mt19937 rng(7);
  for (auto& b : junk) b = static_cast<std::byte>(rng());
  auto reader = ArchiveReader::open_bytes(junk, "junk");
  EXPECT_EQ(reader->poll([](const Record&) {}), 0u);
  ASSERT_EQ(reader->damage().size(), 1u);
  EXPECT_EQ(reader->damage()[0].offset, 0u);
  EXPECT_EQ(reader->damage()[0].length, junk.size());
  EXPECT_EQ(reader->damage()[0].reason, "no valid frame header");
  std::string error;
  EXPECT_FALSE(ArchiveReader::open("/nonexistent/archive", &error));
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

}  // namespace
