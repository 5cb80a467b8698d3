// Archive files: names, modes, rotation and retention (oldest first, by bytes and by age,
// never a file another process is still writing, never another app's); and the chunk codec
// on records a damaged ring could hold.
#include "archive/archive_files.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "blackbox/retention.hpp"
#include "format/chunk_decoder.hpp"
#include "format/chunk_encoder.hpp"
#include "format/frame.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::archive::ArchiveFiles;
using blackbox::archive::FileSettings;

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kDay = 24 * 3600 * kSecond;
// 2026-11-24T12:00:00Z
constexpr std::int64_t kNow = 1'795'521'600 * kSecond;

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A file as another process would have left it: `bytes` long, last written at `mtime_ns`.
std::string plant(const std::string& dir, const std::string& app, std::int64_t start_ns, int pid,
                  std::size_t bytes, std::int64_t mtime_ns) {
  const std::string name =
      blackbox::archive::file_time(start_ns) + "." + app + "." + std::to_string(pid) + ".bbx";
  std::ofstream(dir + "/" + name) << std::string(bytes, 'x');
  const timespec times[2] = {{mtime_ns / kSecond, mtime_ns % kSecond},
                             {mtime_ns / kSecond, mtime_ns % kSecond}};
  EXPECT_EQ(utimensat(AT_FDCWD, (dir + "/" + name).c_str(), times, 0), 0);
  return name;
}

TEST(ArchiveFiles, NamesSortByTimeAndParseBack) {
  EXPECT_EQ(blackbox::archive::file_time(kNow + 123'456'789), "20261124T120000.123456Z");
  std::string app;
  int pid = 0;
  ASSERT_TRUE(
      blackbox::archive::parse_file_name("20261124T120000.123456Z.my.app-1.4711.bbx", app, pid));
  EXPECT_EQ(app, "my.app-1");
  EXPECT_EQ(pid, 4711);
  EXPECT_FALSE(blackbox::archive::parse_file_name("20261124T120000.123456Z.app.bbx", app, pid));
  EXPECT_FALSE(blackbox::archive::parse_file_name("notes.txt", app, pid));
  EXPECT_FALSE(blackbox::archive::parse_file_name("20261124T120000.123456Z.a.12x.bbx", app, pid));
  EXPECT_LT(blackbox::archive::file_time(kNow), blackbox::archive::file_time(kNow + 1000));
  EXPECT_LT(blackbox::archive::file_time(kNow + 999 * kSecond),
            blackbox::archive::file_time(kNow + 1000 * kSecond));
}

TEST(ArchiveFiles, CreatedPrivateExclusiveAndRotatedBySizeAndAge) {
  const std::string dir = blackbox::test::make_temp_dir("files") + "/nested/archive";
  FileSettings s;
  s.dir = dir;
  s.app = "app";
  s.rotate_bytes = 100'000;
  s.rotate_ns = 60 * kSecond;
  ArchiveFiles files(s);
  EXPECT_TRUE(files.at_file_start());
  const std::vector<std::byte> chunk(40'000, std::byte{1});
  ASSERT_EQ(files.append(chunk, kNow), 0);
  const std::string first = files.current_path();
  struct stat st {};
  ASSERT_EQ(stat(first.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  // While written, the file is locked: nobody else may retire it.
  const int probe = open(first.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_NE(flock(probe, LOCK_EX | LOCK_NB), 0);
  close(probe);
  EXPECT_FALSE(files.should_rotate(kNow, 40'000));
  ASSERT_EQ(files.append(chunk, kNow), 0);
  EXPECT_TRUE(files.should_rotate(kNow, 40'000));  // by size
  files.close_current();
  ASSERT_EQ(files.append(chunk, kNow + kSecond), 0);
  EXPECT_NE(files.current_path(), first);
  EXPECT_FALSE(files.should_rotate(kNow + 60 * kSecond, 1));
  EXPECT_TRUE(files.should_rotate(kNow + 61 * kSecond, 1));  // by age
  EXPECT_EQ(files.files_created(), 2u);
  EXPECT_EQ(names_in(dir).size(), 2u);
  // Same microsecond as an existing file: the next free name, never an overwrite.
  files.close_current();
  ASSERT_EQ(files.append(chunk, kNow + kSecond), 0);
  EXPECT_EQ(names_in(dir).size(), 3u);
}

TEST(ArchiveFiles, RetentionDeletesOldestFirstButNeverALiveWritersFile) {
  const std::string dir = blackbox::test::make_temp_dir("retention");
  // Oldest first by name (= start time). a0 and a1 are old enough to go by age; the live
  // one (another process holds its lock) must stay although it is the oldest.
  const std::string live = plant(dir, "app", kNow - 10 * kDay, 10, 1000, kNow - 9 * kDay);
  const std::string a0 = plant(dir, "app", kNow - 5 * kDay, 11, 1000, kNow - 4 * kDay);
  const std::string a1 = plant(dir, "app", kNow - 4 * kDay, 12, 1000, kNow - 3 * kDay - kSecond);
  const std::string b0 = plant(dir, "app", kNow - 2 * kDay, 13, 3000, kNow - 2 * kDay);
  const std::string b1 = plant(dir, "app", kNow - kDay, 14, 3000, kNow - kDay);
  const std::string b2 = plant(dir, "app", kNow - 3600 * kSecond, 15, 3000, kNow);
  const std::string other = plant(dir, "other", kNow - 20 * kDay, 16, 50'000, kNow - 20 * kDay);
  std::ofstream(dir + "/notes.txt") << "not an archive";
  const int holder = open((dir + "/" + live).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(flock(holder, LOCK_EX | LOCK_NB), 0);

  FileSettings s;
  s.dir = dir;
  s.app = "app";
  s.retain_ns = 3 * kDay;
  s.retain_bytes = 7000;
  ArchiveFiles files(s);
  // By age: a0, a1 (live stays). Then by bytes: 1000 (live) + 9000 = 10000 > 7000, so b0
  // goes (7000 left, within the limit).
  EXPECT_EQ(files.apply_retention(kNow).files, 3u);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{other, live, b1, b2, "notes.txt"}));
  // Once its writer is gone the old file goes too.
  close(holder);
  EXPECT_EQ(files.apply_retention(kNow).files, 1u);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{other, b1, b2, "notes.txt"}));
  // No limits: nothing is ever deleted.
  FileSettings keep = s;
  keep.retain_bytes = 0;
  keep.retain_ns = 0;
  EXPECT_EQ(ArchiveFiles(keep).apply_retention(kNow + 100 * kDay).files, 0u);
}

// Retention holds (blackbox/retention.hpp): a file last written after the oldest hold (less
// a second) stays beyond retain_bytes and retain_seconds, until all of the app's files are
// over retain_unshipped_bytes; those deleted then are counted as unshipped. Holds that are
// not ours to trust (malformed, a symlink, a FIFO) are ignored.
TEST(ArchiveFiles, RetentionKeepsWhatAHoldHasNotReadUpToTheCeiling) {
  const std::string dir = blackbox::test::make_temp_dir("holds");
  // Five files of 1,000 bytes, last written a day apart, the newest 1 day ago.
  std::vector<std::string> names;
  for (int i = 0; i < 5; ++i) {
    const std::int64_t written = kNow - (5 - i) * kDay;
    names.push_back(plant(dir, "app", written - kSecond, 10 + i, 1000, written));
  }
  FileSettings s;
  s.dir = dir;
  s.app = "app";
  s.retain_bytes = 1000;  // one file
  s.retain_unshipped_bytes = 3500;

  // Anything else under a hold's name does not hold.
  std::ofstream(dir + "/.hold.junk") << "blackbox-hold 1 12x\n";
  std::ofstream(dir + "/.hold.old-format") << "blackbox-hold 2 0\n";
  ASSERT_EQ(symlink((dir + "/.hold.junk").c_str(), (dir + "/.hold.link").c_str()), 0);
  ASSERT_EQ(mkfifo((dir + "/.hold.fifo").c_str(), 0600), 0);
  EXPECT_TRUE(blackbox::retention_holds(dir).empty());
  EXPECT_EQ(blackbox::set_retention_hold(dir, "bad/name", 0),
            "a hold's holder is [A-Za-z0-9_.-], 1 to 64 bytes");

  // A shipper has read everything before the third file's last write (file 2 is held: its
  // mtime is within the second's margin).
  const std::int64_t through = kNow - 3 * kDay;
  ASSERT_EQ(blackbox::set_retention_hold(dir, "ship-a", through), "");
  // A second holder, further on, does not release what the first holds.
  ASSERT_EQ(blackbox::set_retention_hold(dir, "ship-b", kNow), "");
  const auto holds = blackbox::retention_holds(dir);
  ASSERT_EQ(holds.size(), 2u);
  EXPECT_EQ(holds[0].holder, "ship-a");
  EXPECT_EQ(holds[0].through_ns, through);
  struct stat st {};
  ASSERT_EQ(stat((dir + "/.hold.ship-a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  // Files 0 and 1 were read: they go (5,000 > 1,000). Files 2..4 are held; 3,000 bytes are
  // within the 3,500 ceiling, so they stay.
  auto r = ArchiveFiles(s).apply_retention(kNow);
  EXPECT_EQ(r.files, 2u);
  EXPECT_EQ(r.unshipped_files, 0u);
  EXPECT_EQ(names_in(dir).size(), 3u + 6u);  // files 2..4, the two holds, four bogus ones
  // A lower ceiling: the oldest held files go until the rest fit, and are counted.
  s.retain_unshipped_bytes = 1500;
  r = ArchiveFiles(s).apply_retention(kNow);
  EXPECT_EQ(r.files, 2u);
  EXPECT_EQ(r.unshipped_files, 2u);
  EXPECT_EQ(r.unshipped_bytes, 2000u);
  // The shipper moves on: the rest may go as retention says (here: within 1,000 already).
  ASSERT_EQ(blackbox::set_retention_hold(dir, "ship-a", kNow), "");
  s.retain_bytes = 1;
  r = ArchiveFiles(s).apply_retention(kNow);
  EXPECT_EQ(r.files, 1u);
  EXPECT_EQ(r.unshipped_files, 0u);

  // A hold from before anything was read (the minimum) holds everything; no ceiling (0)
  // then means nothing held is ever deleted.
  const std::string dir2 = blackbox::test::make_temp_dir("holds2");
  for (int i = 0; i < 3; ++i)
    plant(dir2, "app", kNow - (3 - i) * kDay, 20 + i, 1000, kNow - (3 - i) * kDay);
  ASSERT_EQ(blackbox::set_retention_hold(dir2, "ship-a", std::numeric_limits<std::int64_t>::min()),
            "");
  FileSettings s2 = s;
  s2.dir = dir2;
  s2.retain_unshipped_bytes = 0;
  EXPECT_EQ(ArchiveFiles(s2).apply_retention(kNow).files, 0u);
  ASSERT_EQ(blackbox::remove_retention_hold(dir2, "ship-a"), "");
  EXPECT_EQ(ArchiveFiles(s2).apply_retention(kNow).files, 3u);     // retain_bytes is 1
  EXPECT_EQ(blackbox::remove_retention_hold(dir2, "ship-a"), "");  // gone already: fine
}

// A ring record: header, then the arguments in wire form, padded to 8 bytes.
// Ends the encoder's chunk and returns its body, decompressed (empty on any failure).
std::vector<std::uint8_t> finish_and_decompress(blackbox::archive::ChunkEncoder& enc) {
  std::vector<std::byte> payload;
  if (!enc.finish(1, payload)) return {};
  blackbox::archive::ChunkIndex index;
  std::memcpy(&index, payload.data(), sizeof index);
  if (index.codec != blackbox::archive::kCodecBits) return {};
  const std::size_t head = sizeof index + index.tid_count * 4u;
  blackbox::archive::ChunkDecoder decoder;
  if (!decoder
           .unpack(index, {reinterpret_cast<const std::uint8_t*>(payload.data()) + head,
                           payload.size() - head})
           .empty()) {
    return {};
  }
  return {decoder.body().begin(), decoder.body().end()};
}

std::vector<std::byte> ring_record(std::uint32_t site, std::uint64_t ticks,
                                   const std::vector<std::uint8_t>& args) {
  std::vector<std::byte> out(16 + (args.size() + 7) / 8 * 8);
  blackbox::detail::RecordHeader h{static_cast<std::uint32_t>(out.size()), site, ticks};
  std::memcpy(out.data(), &h, sizeof h);
  if (!args.empty()) std::memcpy(out.data() + 16, args.data(), args.size());
  return out;
}

TEST(ChunkCodec, MalformedRecordsAreRefusedAndTheRestStillDecodes) {
  using blackbox::detail::ArgType;
  blackbox::archive::ChunkEncoder enc;
  enc.set_clock(blackbox::archive::TickConverter::from(0, 0, 1000, 1000));
  const std::vector<ArgType> types = {ArgType::u32, ArgType::string};
  enc.define_site(1, blackbox::Level::info, types);
  const char name[16] = "t";
  auto arg = [](std::uint32_t v, const std::string& s) {
    std::vector<std::uint8_t> a(8 + s.size());
    const auto len = static_cast<std::uint32_t>(s.size());
    std::memcpy(a.data(), &v, 4);
    std::memcpy(a.data() + 4, &len, 4);
    std::memcpy(a.data() + 8, s.data(), s.size());
    return a;
  };
  const auto good1 = ring_record(1, 100, arg(7, "hello"));
  const auto good2 = ring_record(1, 200, arg(9, "hello"));  // repeated string
  auto lying = ring_record(1, 300, arg(5, "hi"));
  const std::uint32_t huge = 1000;  // string length beyond the record
  std::memcpy(lying.data() + 20, &huge, 4);
  const auto unknown_site = ring_record(2, 400, {});
  const auto good3 = ring_record(1, 500, arg(11, "world"));
  EXPECT_TRUE(enc.add(0, 42, name, 0, good1.data(), static_cast<std::uint32_t>(good1.size())));
  EXPECT_TRUE(enc.add(0, 42, name, 1, good2.data(), static_cast<std::uint32_t>(good2.size())));
  EXPECT_FALSE(enc.add(0, 42, name, 2, lying.data(), static_cast<std::uint32_t>(lying.size())));
  EXPECT_FALSE(enc.add(0, 42, name, 3, unknown_site.data(),
                       static_cast<std::uint32_t>(unknown_site.size())));
  EXPECT_TRUE(enc.add(0, 42, name, 4, good3.data(), static_cast<std::uint32_t>(good3.size())));
  EXPECT_EQ(enc.record_count(), 3u);
  std::vector<std::byte> payload;
  ASSERT_TRUE(enc.finish(1, payload));
  // Decode the body back (skip the index and the tid list, then zstd).
  blackbox::archive::ChunkIndex index;
  std::memcpy(&index, payload.data(), sizeof index);
  EXPECT_EQ(index.record_count, 3u);
  EXPECT_EQ(index.level_counts[static_cast<int>(blackbox::Level::info)], 3u);
  EXPECT_EQ(index.min_ns, 100);
  EXPECT_EQ(index.max_ns, 500);
  ASSERT_EQ(index.tid_count, 1);
  blackbox::archive::ChunkDecoder decoder;
  ASSERT_EQ(decoder.unpack(
                index, {reinterpret_cast<const std::uint8_t*>(payload.data()) + sizeof index + 4,
                        payload.size() - sizeof index - 4}),
            "");
  const std::vector<std::uint8_t> body(decoder.body().begin(), decoder.body().end());
  struct Got {
    std::uint64_t seq;
    std::int64_t ns;
    std::uint32_t value;
    std::string text;
  };
  std::vector<Got> got;
  const std::string error = blackbox::archive::decode_body(
      blackbox::archive::kCodecBits, body,
      [&](std::uint32_t id) { return id == 1 ? &types : nullptr; },
      [&](const blackbox::archive::DecodedRecord& r) {
        EXPECT_EQ(r.tid, 42u);
        EXPECT_EQ(r.thread_name, "t");
        Got g{r.seq, r.time_ns, 0, {}};
        std::memcpy(&g.value, r.args.data(), 4);
        std::uint32_t len;
        std::memcpy(&len, r.args.data() + 4, 4);
        g.text.assign(reinterpret_cast<const char*>(r.args.data()) + 8, len);
        got.push_back(g);
      });
  EXPECT_EQ(error, "");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].seq, 0u);
  EXPECT_EQ(got[0].ns, 100);
  EXPECT_EQ(got[0].value, 7u);
  EXPECT_EQ(got[0].text, "hello");
  EXPECT_EQ(got[1].seq, 1u);
  EXPECT_EQ(got[1].value, 9u);
  EXPECT_EQ(got[1].text, "hello");
  // After the refused records a new run starts at the right sequence number, with fresh
  // previous values (the decoder agrees).
  EXPECT_EQ(got[2].seq, 4u);
  EXPECT_EQ(got[2].ns, 500);
  EXPECT_EQ(got[2].value, 11u);
  EXPECT_EQ(got[2].text, "world");
  // A body cut short is an error, never a crash: here the string table loses its end.
  std::size_t delivered = 0;
  const std::string cut_error = blackbox::archive::decode_body(
      blackbox::archive::kCodecBits, std::span<const std::uint8_t>(body.data(), body.size() - 3),
      [&](std::uint32_t id) { return id == 1 ? &types : nullptr; },
      [&](const blackbox::archive::DecodedRecord&) { ++delivered; });
  EXPECT_EQ(cut_error, "bad string table");
  EXPECT_EQ(delivered, 0u);
}

// An error mid-way keeps what came before: a site stream that ends inside its third
// record's arguments.
TEST(ChunkCodec, AnErrorMidWayKeepsTheRecordsBeforeIt) {
  using blackbox::detail::ArgType;
  namespace bbx = blackbox::archive;
  bbx::ChunkEncoder enc;
  enc.set_clock(bbx::TickConverter::from(0, 0, 1000, 1000));
  const std::vector<ArgType> types = {ArgType::u32};
  enc.define_site(1, blackbox::Level::info, types);
  for (const std::uint32_t v : {7u, 9u, 1'000'000u}) {
    std::vector<std::uint8_t> arg(4);
    std::memcpy(arg.data(), &v, 4);
    const auto rec = ring_record(1, v, arg);
    ASSERT_TRUE(enc.add(0, 1, "t", v, rec.data(), static_cast<std::uint32_t>(rec.size())));
  }
  std::vector<std::uint8_t> body = finish_and_decompress(enc);
  ASSERT_FALSE(body.empty());
  // No text: the site's stream is the body's last section. Shorten both by a byte.
  bbx::BodyHeader2 head;
  std::memcpy(&head, body.data(), sizeof head);
  ASSERT_EQ(head.site_count, 1u);
  const std::size_t entry = sizeof head + head.control_bytes + head.time_bytes;
  bbx::SiteStream stream;
  std::memcpy(&stream, body.data() + entry, sizeof stream);
  ASSERT_EQ(entry + sizeof stream + stream.bytes, body.size());
  --stream.bytes;
  std::memcpy(body.data() + entry, &stream, sizeof stream);
  body.pop_back();
  std::vector<std::uint32_t> got;
  const std::string error = bbx::decode_body(
      bbx::kCodecBits, body, [&](std::uint32_t) { return &types; },
      [&](const bbx::DecodedRecord& r) {
        std::uint32_t v;
        std::memcpy(&v, r.args.data(), 4);
        got.push_back(v);
      });
  EXPECT_EQ(error, "argument runs past its site's stream");
  EXPECT_EQ(got, (std::vector<std::uint32_t>{7, 9}));
}

}  // namespace

namespace {

// Every double comes back bit for bit, whichever form the encoder picked for it.
TEST(ChunkCodec, DoublesRoundTripBitForBit) {
  using blackbox::detail::ArgType;
  const std::vector<ArgType> types = {ArgType::f64};
  std::vector<double> values = {0.0,
                                -0.0,
                                1.5,
                                12.345,
                                12.345,
                                -7.25,
                                0.1,
                                0.1 + 0.2,
                                1e300,
                                -1e-300,
                                5e-324,
                                std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN(),
                                9007199254740993.0,
                                123456.789012,
                                1.0 / 3,
                                2.5e-7,
                                42.0};
  std::mt19937_64 rng(99);
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t r = rng();
    double d;
    switch (i % 4) {
      case 0:
        d = static_cast<double>(r % 100000) / 1000;  // short decimals
        break;
      case 1:
        d = static_cast<double>(r % 1000000) * 1e-6 * (r % 2 ? -1 : 1);
        break;
      case 2:
        std::memcpy(&d, &r, 8);  // any bits at all (NaN payloads included)
        break;
      default:
        d = static_cast<double>(i) * 0.5;
        break;
    }
    values.push_back(d);
  }
  blackbox::archive::ChunkEncoder enc;
  enc.set_clock(blackbox::archive::TickConverter::from(0, 0, 1000, 1000));
  enc.define_site(1, blackbox::Level::info, types);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::vector<std::uint8_t> arg(8);
    std::memcpy(arg.data(), &values[i], 8);
    const auto rec = ring_record(1, i, arg);
    ASSERT_TRUE(enc.add(0, 1, "t", i, rec.data(), static_cast<std::uint32_t>(rec.size())));
  }
  const std::vector<std::uint8_t> body = finish_and_decompress(enc);
  ASSERT_FALSE(body.empty());
  std::size_t k = 0;
  const std::string error = blackbox::archive::decode_body(
      blackbox::archive::kCodecBits, body, [&](std::uint32_t) { return &types; },
      [&](const blackbox::archive::DecodedRecord& r) {
        std::uint64_t got, want;
        std::memcpy(&got, r.args.data(), 8);
        std::memcpy(&want, &values[k], 8);
        EXPECT_EQ(got, want) << "value " << k << " = " << values[k];
        ++k;
      });
  EXPECT_EQ(error, "");
  EXPECT_EQ(k, values.size());
}

}  // namespace

namespace {

// Strings of every length the dictionary hashes inline (0..32 bytes) and beyond, many of
// them equal but for one byte, each logged several times across two argument positions and
// runs: every record decodes to its own string, byte for byte (a dictionary hit is only
// taken for equal bytes, whatever the hash says).
TEST(ChunkCodec, StringsOfEveryLengthRoundTripThroughTheDictionary) {
  using blackbox::detail::ArgType;
  const std::vector<ArgType> types = {ArgType::string, ArgType::string};
  std::vector<std::string> strings;
  for (std::size_t len = 0; len <= 80; ++len) {
    const std::string base(len, 'a');
    strings.push_back(base);
    for (std::size_t at = 0; at < len; at += 3) {  // differs from base in one byte
      std::string s = base;
      s[at] = 'b';
      strings.push_back(s);
    }
  }
  std::mt19937_64 rng(5);
  std::vector<std::pair<std::string, std::string>> logged;
  for (int i = 0; i < 6000; ++i) {
    logged.emplace_back(strings[rng() % strings.size()], strings[rng() % strings.size()]);
  }
  blackbox::archive::ChunkEncoder enc;
  enc.set_clock(blackbox::archive::TickConverter::from(0, 0, 1000, 1000));
  enc.define_site(1, blackbox::Level::info, types);
  // The records stay put until the chunk is finished, as the flusher's copy of a ring does
  // while its run is open: the encoder compares a string with the previous one in place.
  std::vector<std::vector<std::byte>> records;
  for (std::size_t i = 0; i < logged.size(); ++i) {
    std::vector<std::uint8_t> args;
    for (const std::string* s : {&logged[i].first, &logged[i].second}) {
      const auto len = static_cast<std::uint32_t>(s->size());
      args.insert(args.end(), reinterpret_cast<const std::uint8_t*>(&len),
                  reinterpret_cast<const std::uint8_t*>(&len) + 4);
      args.insert(args.end(), s->begin(), s->end());
    }
    records.push_back(ring_record(1, i, args));
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i % 1000 == 999) enc.end_run();  // runs start afresh; the dictionary does not
    ASSERT_TRUE(
        enc.add(0, 1, "t", i, records[i].data(), static_cast<std::uint32_t>(records[i].size())));
  }
  const std::vector<std::uint8_t> body = finish_and_decompress(enc);
  ASSERT_FALSE(body.empty());
  std::size_t k = 0;
  const std::string error = blackbox::archive::decode_body(
      blackbox::archive::kCodecBits, body, [&](std::uint32_t) { return &types; },
      [&](const blackbox::archive::DecodedRecord& r) {
        const auto* a = reinterpret_cast<const char*>(r.args.data());
        std::uint32_t len1, len2;
        std::memcpy(&len1, a, 4);
        const std::string first(a + 4, len1);
        std::memcpy(&len2, a + 4 + len1, 4);
        const std::string second(a + 8 + len1, len2);
        ASSERT_LT(k, logged.size());
        EXPECT_EQ(first, logged[k].first) << "record " << k;
        EXPECT_EQ(second, logged[k].second) << "record " << k;
        ++k;
      });
  EXPECT_EQ(error, "");
  EXPECT_EQ(k, logged.size());
}

// A recalibration between two passes must not move a thread's time backwards.
TEST(ChunkCodec, TimesOfOneSlotNeverGoBackAcrossRecalibration) {
  using blackbox::detail::ArgType;
  const std::vector<ArgType> types;
  blackbox::archive::ChunkEncoder enc;
  enc.define_site(1, blackbox::Level::info, types);
  // Old calibration: 1 tick = 1 ns. New one: the same ticks read 500 ns earlier.
  enc.set_clock(blackbox::archive::TickConverter::from(0, 0, 1'000'000, 1'000'000));
  const auto r1 = ring_record(1, 2'000'000, {});
  ASSERT_TRUE(enc.add(0, 7, "t", 0, r1.data(), static_cast<std::uint32_t>(r1.size())));
  enc.end_run();
  enc.set_clock(blackbox::archive::TickConverter::from(0, -500, 1'000'000, 999'500));
  const auto r2 = ring_record(1, 2'000'100, {});  // 100 ticks later: 1'999'600 by the new clock
  const auto r3 = ring_record(1, 2'001'000, {});  // 2'000'500 by the new clock
  ASSERT_TRUE(enc.add(0, 7, "t", 1, r2.data(), static_cast<std::uint32_t>(r2.size())));
  ASSERT_TRUE(enc.add(0, 7, "t", 2, r3.data(), static_cast<std::uint32_t>(r3.size())));
  const std::vector<std::uint8_t> body = finish_and_decompress(enc);
  ASSERT_FALSE(body.empty());
  std::vector<std::int64_t> times;
  EXPECT_EQ(blackbox::archive::decode_body(
                blackbox::archive::kCodecBits, body, [&](std::uint32_t) { return &types; },
                [&](const blackbox::archive::DecodedRecord& r) { times.push_back(r.time_ns); }),
            "");
  EXPECT_EQ(times, (std::vector<std::int64_t>{2'000'000, 2'000'000, 2'000'500}));
}

}  // namespace
