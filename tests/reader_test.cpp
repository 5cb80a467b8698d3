// The reader against damaged and hostile ring files: it reports a clear error for a file it
// cannot use, and for damage inside a usable file it loses only the damaged records, counts
// them exactly, and never reads outside the file (checked under AddressSanitizer).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>

#include "blackbox/blackbox.hpp"
#include "format/ring_layout.hpp"
#include "support/test_env.hpp"

namespace {

using Bytes = std::vector<char>;

struct Snapshot {
  Bytes bytes;
  std::vector<blackbox::Record> records;  // as read from the intact file
};

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::string write_file(const Bytes& bytes) {
  static int n = 0;
  const std::string path = blackbox::test::test_dir() + "/copy" + std::to_string(++n) + ".bbr";
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// Logs 1200 records of two sites into a small ring (a few blocks) and snapshots the file.
const Snapshot& snapshot() {
  static Snapshot s = [] {
    blackbox::Config config = blackbox::Config::from_env();
    config.ring_bytes = 64 * 1024;
    config.block_bytes = 4096;
    config.max_string_bytes = 1024;
    config.max_threads = 2;
    const auto init = blackbox::init(config);
    // Copies of this file are made below: never let a default-sized ring through.
    if (!init.ok()) {
      std::fprintf(stderr, "%s\n", init.error.c_str());
      std::abort();
    }
    for (std::uint64_t i = 0; i < 600; ++i) {
      BBX_LOG("dmg", blackbox::Level::info, "record {} name {}", i, std::string(i % 13, 'n'));
      BBX_LOG("dmg2", blackbox::Level::info, "other {}", static_cast<double>(i) / 4);
    }
    Snapshot snap;
    snap.bytes = read_file(blackbox::ring_path());
    const std::string path = write_file(snap.bytes);
    auto reader = blackbox::RingReader::open(path);
    unlink(path.c_str());
    EXPECT_TRUE(reader);
    reader->poll([&](const blackbox::Record& r) { snap.records.push_back(r); });
    EXPECT_EQ(reader->lost_records(), 0u);
    return snap;
  }();
  return s;
}

const blackbox::ring::RingHeader& header_of(const Bytes& b) {
  return *reinterpret_cast<const blackbox::ring::RingHeader*>(b.data());
}

std::size_t file_offset(const Bytes& b, std::uint32_t slot, std::uint64_t position) {
  const auto& h = header_of(b);
  return h.slot_data_offset + slot * h.ring_bytes + (position & (h.ring_bytes - 1));
}

std::string open_error(const Bytes& bytes) {
  std::string error;
  const std::string path = write_file(bytes);
  auto reader = blackbox::RingReader::open(path, &error);
  unlink(path.c_str());
  EXPECT_FALSE(reader);
  return error;
}

TEST(ReaderTest, RejectsFilesItCannotUseWithAClearError) {
  const Snapshot& s = snapshot();
  Bytes b = s.bytes;
  b[0] = 'X';
  EXPECT_NE(open_error(b).find("bad magic"), std::string::npos);
  b = s.bytes;
  reinterpret_cast<blackbox::ring::RingHeader*>(b.data())->version = 99;
  EXPECT_NE(open_error(b).find("version 99"), std::string::npos);
  b = s.bytes;
  reinterpret_cast<blackbox::ring::RingHeader*>(b.data())->slot_count = 0xffffffff;
  EXPECT_NE(open_error(b).find("geometry"), std::string::npos);
  b = s.bytes;
  reinterpret_cast<blackbox::ring::RingHeader*>(b.data())->slot_data_offset += 8;
  EXPECT_NE(open_error(b).find("region table"), std::string::npos);
  b = s.bytes;
  b.resize(b.size() / 2);
  EXPECT_NE(open_error(b).find("truncated"), std::string::npos);
  b.resize(100);
  EXPECT_NE(open_error(b).find("too small"), std::string::npos);
  std::string error;
  EXPECT_FALSE(blackbox::RingReader::open("/nonexistent/ring.bbr", &error));
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

// Reads a damaged copy; every record it returns must be one of the originals, unchanged.
struct Damaged {
  std::vector<blackbox::Record> records;
  std::uint64_t lost = 0;
  std::uint64_t corrupt_bytes = 0;
};

Damaged read_damaged(const Bytes& bytes) {
  std::string error;
  const std::string path = write_file(bytes);
  auto reader = blackbox::RingReader::open(path, &error);
  unlink(path.c_str());  // the reader's mapping keeps the data
  EXPECT_TRUE(reader) << error;
  Damaged d;
  if (!reader) return d;
  reader->poll([&](const blackbox::Record& r) { d.records.push_back(r); });
  d.lost = reader->lost_records();
  for (const auto& l : reader->losses()) d.corrupt_bytes += l.corrupt_bytes;
  return d;
}

void expect_subset_of_originals(const Damaged& d, const Snapshot& s) {
  std::map<std::pair<std::uint32_t, std::uint64_t>, const blackbox::Record*> by_id;
  for (const auto& r : s.records) by_id[{r.slot, r.sequence}] = &r;
  for (const auto& r : d.records) {
    const auto it = by_id.find({r.slot, r.sequence});
    ASSERT_NE(it, by_id.end());
    EXPECT_EQ(r.message, it->second->message);
    EXPECT_EQ(r.position, it->second->position);
  }
}

TEST(ReaderTest, ABadRecordSizeCostsTheRestOfItsBlockExactly) {
  const Snapshot& s = snapshot();
  const auto& victim = s.records[s.records.size() / 2];
  const std::uint64_t block = header_of(s.bytes).block_bytes;
  Bytes b = s.bytes;
  const std::uint32_t bad_size = 12;  // not a multiple of 8
  std::memcpy(&b[file_offset(b, victim.slot, victim.position)], &bad_size, 4);
  const Damaged d = read_damaged(b);
  expect_subset_of_originals(d, s);
  std::uint64_t expected_lost = 0;
  for (const auto& r : s.records) {
    const bool same_block = r.slot == victim.slot && r.position / block == victim.position / block;
    if (same_block && r.position >= victim.position) ++expected_lost;
  }
  EXPECT_GT(expected_lost, 0u);
  EXPECT_EQ(d.lost, expected_lost);
  EXPECT_EQ(d.records.size() + d.lost, s.records.size());
  EXPECT_GT(d.corrupt_bytes, 0u);
}

TEST(ReaderTest, ABadBlockHeaderCostsItsBlockExactly) {
  const Snapshot& s = snapshot();
  const auto& victim = s.records[s.records.size() / 3];
  const std::uint64_t block = header_of(s.bytes).block_bytes;
  const std::uint64_t block_start = victim.position / block * block;
  Bytes b = s.bytes;
  b[file_offset(b, victim.slot, block_start)] ^= 0x40;  // its position field no longer matches
  const Damaged d = read_damaged(b);
  expect_subset_of_originals(d, s);
  std::uint64_t expected_lost = 0;
  for (const auto& r : s.records) {
    if (r.slot == victim.slot && r.position / block == victim.position / block) ++expected_lost;
  }
  EXPECT_EQ(d.lost, expected_lost);
  EXPECT_EQ(d.records.size() + d.lost, s.records.size());
}

TEST(ReaderTest, ADamagedSiteDefinitionCostsOnlyThatSitesRecords) {
  const Snapshot& s = snapshot();
  Bytes b = s.bytes;
  const auto& h = header_of(b);
  // The first entry is the "dmg" site: make its first argument type unknown.
  const std::size_t entry = h.site_table_offset;
  b[entry + sizeof(blackbox::ring::SiteEntry)] = static_cast<char>(99);
  const Damaged d = read_damaged(b);
  expect_subset_of_originals(d, s);
  for (const auto& r : d.records) EXPECT_NE(r.tag, "dmg");
  EXPECT_EQ(d.records.size() + d.lost, s.records.size());
}

TEST(ReaderTest, RandomDamageNeverCrashes) {
  const Snapshot& s = snapshot();
  std::mt19937_64 rng(std::random_device{}());
  const auto& h = header_of(s.bytes);
  for (int round = 0; round < 200; ++round) {
    Bytes b = s.bytes;
    // Flip bits in the site table, slot headers and the used slot's ring.
    const int flips = 1 + static_cast<int>(rng() % 20);
    for (int i = 0; i < flips; ++i) {
      const std::size_t lo = h.site_table_offset;
      const std::size_t hi = h.slot_data_offset + h.ring_bytes;
      const std::size_t at = lo + rng() % (hi - lo);
      b[at] = static_cast<char>(b[at] ^ (1 << (rng() % 8)));
    }
    const Damaged d = read_damaged(b);
    // Flipped argument bytes cannot be detected in a ring (archives add checksums), so only
    // identities are checked: no record appears that was not written.
    std::set<std::pair<std::uint32_t, std::uint64_t>> ids;
    for (const auto& r : s.records) ids.insert({r.slot, r.sequence});
    for (const auto& r : d.records) {
      if (ids.count({r.slot, r.sequence}) == 0) {
        // A flipped first_seq in a block header renumbers a block: allowed, but then
        // that header's damage must have been counted somewhere.
        EXPECT_TRUE(d.lost > 0 || d.corrupt_bytes > 0);
      }
    }
  }
}

}  // namespace
