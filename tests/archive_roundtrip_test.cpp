// Ring -> flusher -> archive files -> ArchiveReader, end to end: millions of mixed records
// from several threads, across many rotations, compared field by field with what was
// logged; flush() and the exit paths; loss markers when a producer laps the flusher.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/control.hpp"
#include "blackbox/reader.hpp"
#include "blackbox/retention.hpp"
#include "blackbox/text.hpp"
#include "support/test_env.hpp"

namespace {

struct Point {
  int x, y;
};

}  // namespace

template <>
struct fmt::formatter<Point> : fmt::formatter<int> {
  auto format(const Point& p, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "({}, {})", p.x, p.y);
  }
};

namespace {

using blackbox::ArchiveReader;
using blackbox::Level;
using blackbox::Record;

constexpr int kKinds = 7;
const char* const kHosts[] = {"10.0.0.1", "10.0.0.2", "192.168.1.77", "::1"};

std::string long_text(std::uint64_t i) {
  // Every 97th is longer than max_string_bytes (and gets cut); the rest vary in length.
  const std::size_t n = i % 97 == 0 ? 5000 : i % 300;
  std::string s(n, 'a');
  for (std::size_t k = 0; k < n; ++k) s[k] = static_cast<char>('a' + (i + k) % 26);
  return s;
}

std::array<std::uint8_t, 16> trace_of(std::uint64_t t, std::uint64_t i) {
  std::array<std::uint8_t, 16> id{};
  const std::uint64_t a = (t + 1) * 0x9E3779B97F4A7C15ull,
                      b = (i / 100 + 1) * 0xC2B2AE3D27D4EB4Full;
  std::memcpy(id.data(), &a, 8);
  std::memcpy(id.data() + 8, &b, 8);
  return id;
}

// Record i of thread t. Every kind exercises other argument types and encodings.
void log_one(std::uint64_t t, std::uint64_t i) {
  switch (i % kKinds) {
    case 0:
      BBX_INFO("order {id} qty {qty} price {px:.2f} side {side}", (t << 32) | i,
               -static_cast<std::int32_t>(i % 1000), static_cast<double>(i) * 0.25,
               i % 2 == 0 ? 'B' : 'S');
      break;
    case 1:
      BBX_WARN("user {user} from {ip} ok {ok}", "user-" + std::to_string(i % 37), kHosts[i % 4],
               i % 3 == 0);
      break;
    case 2:
      BBX_DEBUG("small {a} {b} {c} {d} {e}", static_cast<std::int8_t>(i),
                static_cast<std::int16_t>(-i), static_cast<std::uint16_t>(i * 7),
                static_cast<float>(i) / 8.0f, static_cast<std::uint8_t>(i));
      break;
    case 3:
      BBX_ERROR("text {body}", long_text(i));
      break;
    case 4: {
      const auto id = trace_of(t, i);
      blackbox::TraceScope scope(
          blackbox::TraceContext{id, {1, 2, 3, 4, 5, 6, 7, static_cast<std::uint8_t>(i)}});
      BBX_INFO("traced {n} at {p}", static_cast<std::int64_t>(i) - 500,
               reinterpret_cast<const void*>(0x7f0000001000 + i * 64));
      break;
    }
    case 5:
      BBX_LOG("net", Level::fatal, "static message, no arguments");
      break;
    default:
      BBX_TRACE("point {where} u64 {big}", Point{static_cast<int>(i), -static_cast<int>(t)},
                ~std::uint64_t{0} - i);
      break;
  }
}

// What log_one(t, i) must read back as: message, level and trace.
struct Expected {
  std::string message;
  Level level;
  bool has_trace;
  std::array<std::uint8_t, 16> trace{};
  bool truncated = false;
};

Expected expect(std::uint64_t t, std::uint64_t i) {
  switch (i % kKinds) {
    case 0:
      return {fmt::format("order {} qty {} price {:.2f} side {}", (t << 32) | i,
                          -static_cast<std::int32_t>(i % 1000), static_cast<double>(i) * 0.25,
                          i % 2 == 0 ? 'B' : 'S'),
              Level::info, false};
    case 1:
      return {fmt::format("user {} from {} ok {}", "user-" + std::to_string(i % 37), kHosts[i % 4],
                          i % 3 == 0),
              Level::warn, false};
    case 2:
      return {fmt::format("small {} {} {} {} {}", static_cast<std::int8_t>(i),
                          static_cast<std::int16_t>(-i), static_cast<std::uint16_t>(i * 7),
                          static_cast<float>(i) / 8.0f, static_cast<std::uint8_t>(i)),
              Level::debug, false};
    case 3: {
      std::string body = long_text(i);
      const bool cut = body.size() > 4096;
      if (cut) body.resize(4096);
      return {"text " + body, Level::error, false, {}, cut};
    }
    case 4:
      return {fmt::format("traced {} at {}", static_cast<std::int64_t>(i) - 500,
                          fmt::ptr(reinterpret_cast<const void*>(0x7f0000001000 + i * 64))),
              Level::info, true, trace_of(t, i)};
    case 5:
      return {"static message, no arguments", Level::fatal, false};
    default:
      return {fmt::format("point {} u64 {}", Point{static_cast<int>(i), -static_cast<int>(t)},
                          ~std::uint64_t{0} - i),
              Level::trace, false};
  }
}

blackbox::Config archive_config(const std::string& archive_dir) {
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "roundtrip";
  c.levels = "trace";
  c.archive_dir = archive_dir;
  c.rotate_bytes = 64u << 10;  // the minimum: many rotations
  c.retain_bytes = 0;          // keep everything
  c.retain_seconds = 0;
  c.ring_bytes = 8u << 20;
  return c;
}

TEST(ArchiveRoundTrip, MillionsOfMixedRecordsFromThreadsAcrossRotations) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  ASSERT_TRUE(blackbox::init(archive_config(dir)).ok());
  constexpr int kThreads = 4;
  constexpr std::uint64_t kPerThread = 600'000;  // 2.4 M records
  std::vector<std::thread> threads;
  std::atomic<int> holding{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &holding] {
      pthread_setname_np(pthread_self(), ("worker-" + std::to_string(t)).c_str());
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        log_one(static_cast<std::uint64_t>(t), i);
        // Every worker holds its slot before any goes on (an exited worker's slot, and its
        // sequence numbers, would go to a late starter).
        if (i == 0) {
          holding.fetch_add(1);
          while (holding.load() < kThreads) std::this_thread::yield();
        }
        // Bounds how far a producer can run ahead of the flusher (sanitizer builds are
        // slow): the test is about exact contents, lapping is tested on its own.
        if (i % 20'000 == 19'999) {
          ASSERT_TRUE(blackbox::flush());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(blackbox::flush());
  const blackbox::Stats stats = blackbox::stats();
  EXPECT_EQ(stats.records_archived, kThreads * kPerThread);
  EXPECT_EQ(stats.lost_overwritten + stats.lost_disk_error + stats.lost_corrupt, 0u);
  EXPECT_FALSE(stats.breaker_open);

  std::string error;
  auto reader = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(reader) << error;
  // Checked as they come (holding 2.4 M decoded records would take gigabytes): each
  // thread's records arrive in sequence order, and its sequence i is its record i.
  struct PerThread {
    std::uint64_t t = 0, next = 0;
    std::int64_t previous_ns = 0;
  };
  std::map<std::uint32_t, PerThread> threads_seen;
  std::uint64_t mismatches = 0;
  reader->poll([&](const Record& r) {
    auto [it, first] = threads_seen.try_emplace(r.tid);
    PerThread& p = it->second;
    if (first) p.t = std::get<std::uint64_t>(r.fields.at(0).value) >> 32;  // kind 0: t << 32
    const std::uint64_t i = p.next++;
    const Expected e = expect(p.t, i);
    const bool ok = r.sequence == i && r.message == e.message && r.level == e.level &&
                    r.has_trace == e.has_trace && (!e.has_trace || r.trace_id == e.trace) &&
                    (!e.has_trace || r.span_id[7] == static_cast<std::uint8_t>(i)) &&
                    r.truncated == e.truncated &&
                    r.thread_name == "worker-" + std::to_string(p.t) &&
                    r.tag == (i % kKinds == 5 ? "net" : "main") &&
                    r.time_ns >= p.previous_ns;  // one thread's clock never goes back
    if (!ok && ++mismatches <= 5) {
      ADD_FAILURE() << "thread " << p.t << " record " << i << " (sequence " << r.sequence
                    << "): got \"" << r.message << "\", want \"" << e.message << "\"; level "
                    << static_cast<int>(r.level) << "/" << static_cast<int>(e.level) << " trace "
                    << r.has_trace << "/" << e.has_trace << " truncated " << r.truncated << "/"
                    << e.truncated << " thread " << r.thread_name << " tag " << r.tag << " time "
                    << r.time_ns << " after " << p.previous_ns;
    }
    p.previous_ns = r.time_ns;
    // Typed fields too, for one record of each kind.
    switch (i) {
      case 7:
        EXPECT_EQ(std::get<std::int64_t>(r.fields.at(1).value), -7);
        EXPECT_EQ(r.fields.at(2).name, "px");
        EXPECT_EQ(std::get<double>(r.fields.at(2).value), 7 * 0.25);
        break;
      case 1:
        EXPECT_EQ(std::get<std::string>(r.fields.at(0).value), "user-1");
        break;
      case 15:
        EXPECT_EQ(std::get<bool>(r.fields.at(2).value), true);
        break;
      case 6:
        EXPECT_EQ(std::get<std::uint64_t>(r.fields.at(1).value), ~std::uint64_t{0} - 6);
        EXPECT_EQ(std::get<std::string>(r.fields.at(0).value),
                  fmt::format("({}, {})", 6, -static_cast<int>(p.t)));
        break;
      default:
        break;
    }
  });
  EXPECT_EQ(mismatches, 0u);
  EXPECT_TRUE(reader->damage().empty());
  EXPECT_EQ(reader->lost_records(), 0u);
  ASSERT_EQ(threads_seen.size(), static_cast<std::size_t>(kThreads));
  std::set<std::uint64_t> ts;
  for (const auto& [tid, p] : threads_seen) {
    EXPECT_EQ(p.next, kPerThread);
    ts.insert(p.t);
  }
  EXPECT_EQ(ts.size(), static_cast<std::size_t>(kThreads));

  // Many rotations; every file stands alone with a good header.
  const auto files = reader->files();
  EXPECT_GT(files.size(), 10u);
  for (std::size_t k = 0; k < files.size(); ++k) {
    EXPECT_TRUE(files[k].header_ok) << files[k].path;
    EXPECT_EQ(files[k].app, "roundtrip");
    EXPECT_EQ(files[k].pid, getpid());
    EXPECT_EQ(files[k].file_index, k);
    auto single = ArchiveReader::open(files[k].path, &error);
    ASSERT_TRUE(single) << error;
    single->poll([](const Record&) {});
    EXPECT_TRUE(single->damage().empty()) << files[k].path;  // sites defined in the file
  }
  EXPECT_EQ(stats.archive_files_created, files.size());
}

TEST(ArchiveRoundTrip, TraceFilterSkipsChunksWithoutDecompressing) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  ASSERT_TRUE(blackbox::init(archive_config(dir)).ok());
  for (std::uint64_t i = 0; i < 70'000; ++i) {
    log_one(0, i);
    if (i % 7'000 == 6'999) {
      ASSERT_TRUE(blackbox::flush());  // ten chunks
    }
  }
  ASSERT_TRUE(blackbox::flush());
  std::string error;
  auto reader = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(reader) << error;
  const auto wanted = trace_of(0, 123 * 100);  // records 12300..12399 carry it
  reader->set_trace_filter(wanted);
  std::vector<Record> got;
  reader->poll([&](const Record& r) { got.push_back(r); });
  std::size_t expected = 0;
  for (std::uint64_t i = 12300; i < 12400; ++i) expected += i % kKinds == 4 ? 1 : 0;
  ASSERT_EQ(got.size(), expected);
  for (const Record& r : got) EXPECT_EQ(r.trace_id, wanted);
  EXPECT_GE(reader->counters().chunks_skipped, 8u);
  EXPECT_LE(reader->counters().chunks_read, 2u);
}

// Rounds of two threads' records, one flush (so at least one chunk) per round; returns the
// time of each round's first record.
std::vector<std::int64_t> log_rounds(int rounds, std::uint32_t& second_tid) {
  std::vector<std::int64_t> starts;
  for (int round = 0; round < rounds; ++round) {
    starts.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
    for (std::uint64_t i = 0; i < 2'000; ++i) log_one(0, round * 2'000 + i);
    std::thread other([&] {
      second_tid = static_cast<std::uint32_t>(gettid());
      for (std::uint64_t i = 0; i < 2'000; ++i) log_one(1, round * 2'000 + i);
    });
    other.join();
    EXPECT_TRUE(blackbox::flush());
  }
  return starts;
}

std::tuple<std::int64_t, std::uint32_t, std::uint64_t> identity(const Record& r) {
  return {r.time_ns, r.slot, r.sequence};
}

TEST(ArchiveRoundTrip, ChunkByChunkReadingMergesInTimeOrder) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  blackbox::Config c = archive_config(dir);
  c.rotate_bytes = 16u << 20;  // one file: chunk order alone must not be what sorts
  ASSERT_TRUE(blackbox::init(c).ok());
  std::uint32_t second_tid = 0;
  log_rounds(6, second_tid);
  std::string error;
  auto whole = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(whole) << error;
  std::vector<Record> expected = whole->read_sorted();
  ASSERT_EQ(expected.size(), 6u * 4'000u);

  // The merge logcat does: decode the chunk that starts earliest; a record is final once no
  // unread chunk can start before it.
  auto reader = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(reader) << error;
  EXPECT_GE(reader->scan(), 6u);
  auto later = [](const Record& a, const Record& b) { return identity(a) > identity(b); };
  std::vector<Record> heap, merged;
  std::size_t most_held = 0;
  for (;;) {
    const auto next = reader->next_chunk_time();
    while (!heap.empty() && (!next || heap.front().time_ns < *next)) {
      std::pop_heap(heap.begin(), heap.end(), later);
      merged.push_back(std::move(heap.back()));
      heap.pop_back();
    }
    if (!next) break;
    reader->read_next_chunk([&](std::unique_ptr<Record>& r) {
      heap.push_back(*r);
      std::push_heap(heap.begin(), heap.end(), later);
    });
    most_held = std::max(most_held, heap.size());
  }
  ASSERT_EQ(merged.size(), expected.size());
  EXPECT_TRUE(std::is_sorted(merged.begin(), merged.end(), [](const Record& a, const Record& b) {
    return a.time_ns < b.time_ns;
  }));
  std::sort(expected.begin(), expected.end(),
            [](const Record& a, const Record& b) { return identity(a) < identity(b); });
  for (std::size_t i = 0; i < merged.size(); ++i) {
    ASSERT_EQ(identity(merged[i]), identity(expected[i])) << i;
    ASSERT_EQ(merged[i].message, expected[i].message) << i;
  }
  EXPECT_LT(most_held, expected.size() / 2);  // bounded by the chunks, not the archive

  // Records say which process wrote them, as the ring does.
  auto ring = blackbox::RingReader::open_self(&error);
  ASSERT_TRUE(ring) << error;
  for (const Record& r : merged) {
    ASSERT_EQ(r.pid, getpid());
    ASSERT_EQ(r.process_start_ns, ring->info().start_time_ns);
  }
}

// An archive read with ReadFilter::encoded (what logcat -o json and -o logfmt read) gives
// the same records, and the same JSON and logfmt lines, as one decoded: across chunks and
// threads, whose records reuse the reader's Record for other call sites.
TEST(ArchiveRoundTrip, EncodedArgumentsRenderAsDecodedRecords) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  ASSERT_TRUE(blackbox::init(archive_config(dir)).ok());
  std::uint32_t second_tid = 0;
  log_rounds(3, second_tid);
  std::string error;
  auto decoded = ArchiveReader::open(dir, &error);
  auto encoded = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(decoded && encoded) << error;
  blackbox::ReadFilter keep_encoded;
  keep_encoded.encoded = true;
  encoded->set_filter(keep_encoded);
  using blackbox::text::Format;
  for (const Format format : {Format::json, Format::logfmt}) {
    blackbox::text::Renderer from_decoded(format, false, true), from_encoded(format, false, true);
    blackbox::text::Buffer a(1 << 16), b(1 << 16);
    std::size_t records = 0, with_encoded = 0;
    decoded->poll([&](const Record& r) {
      from_decoded.render(r, a);
      ++records;
    });
    encoded->poll([&](const Record& r) {
      EXPECT_TRUE(r.message.empty() && r.fields.empty());
      with_encoded += r.encoded.empty() ? 0 : 1;
      from_encoded.render(r, b);
    });
    EXPECT_EQ(records, 3u * 4'000u);
    EXPECT_EQ(with_encoded, records);  // the static message too (no bytes)
    const std::vector<std::string> want = blackbox::test::lines_of(std::string(a.view()));
    const std::vector<std::string> got = blackbox::test::lines_of(std::string(b.view()));
    ASSERT_EQ(want.size(), got.size());
    for (std::size_t k = 0; k < want.size(); ++k) ASSERT_EQ(want[k], got[k]) << "line " << k;
    decoded = ArchiveReader::open(dir, &error);  // read again for the next format
    encoded = ArchiveReader::open(dir, &error);
    ASSERT_TRUE(decoded && encoded) << error;
    encoded->set_filter(keep_encoded);
  }
}

TEST(ArchiveRoundTrip, FiltersSkipChunksByTheirIndexAndRecordsBeforeDecoding) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  ASSERT_TRUE(blackbox::init(archive_config(dir)).ok());
  std::uint32_t second_tid = 0;
  const std::vector<std::int64_t> starts = log_rounds(10, second_tid);
  std::string error;
  auto all = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(all) << error;
  const std::vector<Record> every = all->read_sorted();
  const std::uint64_t chunks = all->counters().chunks_read;
  ASSERT_GE(chunks, 10u);

  auto count = [&](const blackbox::ReadFilter& filter,
                   const std::function<bool(const Record&)>& expect_pass) {
    auto reader = ArchiveReader::open(dir, &error);
    EXPECT_TRUE(reader) << error;
    reader->set_filter(filter);
    // Exactly the records a brute-force filter keeps, with the same values (records passed
    // over still carry the delta state of the records after them).
    using Seen = std::tuple<std::int64_t, std::uint32_t, std::uint64_t, std::string>;
    std::vector<Seen> got, wanted;
    reader->poll([&](const Record& r) {
      EXPECT_TRUE(expect_pass(r)) << r.message;
      if (!filter.fields) {
        EXPECT_TRUE(r.fields.empty()) << r.message;
      }
      got.emplace_back(r.time_ns, r.slot, r.sequence, r.message);
    });
    for (const Record& r : every) {
      if (expect_pass(r)) wanted.emplace_back(r.time_ns, r.slot, r.sequence, r.message);
    }
    std::sort(got.begin(), got.end());
    std::sort(wanted.begin(), wanted.end());
    EXPECT_EQ(got.size(), wanted.size());
    EXPECT_TRUE(got == wanted);
    return reader->counters();
  };

  // A time window of three rounds: the other rounds' chunks are not decompressed.
  blackbox::ReadFilter window;
  window.since_ns = starts[3];
  window.until_ns = starts[6];
  auto counters = count(
      window, [&](const Record& r) { return r.time_ns >= starts[3] && r.time_ns < starts[6]; });
  EXPECT_GE(counters.chunks_skipped, 6u);
  EXPECT_LE(counters.chunks_read, chunks - 6);

  // The same window without typed fields (what logcat asks for text output): the same
  // messages, formatted all the same.
  window.fields = false;
  count(window, [&](const Record& r) { return r.time_ns >= starts[3] && r.time_ns < starts[6]; });

  // One thread, at or above warn, tag "net" only (the site predicate): kind 5 of thread 1.
  blackbox::ReadFilter narrow;
  narrow.tids = {second_tid};
  narrow.min_level = Level::warn;
  narrow.site = [](std::string_view tag, Level) { return tag == "net"; };
  count(narrow, [&](const Record& r) {
    return r.tid == second_tid && r.level >= Level::warn && r.tag == "net";
  });

  // Another pid: nothing is decompressed at all.
  blackbox::ReadFilter other_pid;
  other_pid.pid = getpid() + 1;
  counters = count(other_pid, [](const Record&) { return false; });
  EXPECT_EQ(counters.chunks_read, 0u);
  EXPECT_EQ(counters.chunks_skipped, chunks);
}

// Each chunk's filter frame (its sites, a Bloom filter sized to its trace ids) lets a lookup
// skip chunks that hold thousands of traces, where the index's 256-bit filter is all ones.
TEST(ArchiveRoundTrip, TraceAndSiteLookupsReadOnlyTheChunksThatHoldThem) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  ASSERT_TRUE(blackbox::init(archive_config(dir)).ok());
  constexpr int kRounds = 12;
  constexpr std::uint64_t kTracesPerRound = 3000;
  auto trace = [](std::uint64_t n) {
    blackbox::TraceContext c;
    const std::uint64_t a = (n + 1) * 0x9E3779B97F4A7C15ull, b = ~n * 0xC2B2AE3D27D4EB4Full;
    std::memcpy(c.trace_id.data(), &a, 8);
    std::memcpy(c.trace_id.data() + 8, &b, 8);
    c.span_id[7] = 1;
    return c;
  };
  for (int round = 0; round < kRounds; ++round) {
    for (std::uint64_t i = 0; i < kTracesPerRound; ++i) {
      blackbox::TraceScope scope(trace(round * kTracesPerRound + i));
      BBX_INFO("request {n} begins", i);
      BBX_DEBUG("request {n} ends", i);
    }
    if (round == 7) BBX_LOG("rare", Level::info, "once in round {round}", round);
    ASSERT_TRUE(blackbox::flush());  // a chunk per round
  }
  std::string error;
  auto all = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(all) << error;
  std::size_t total = 0;
  all->poll([&](const Record&) { ++total; });
  const std::uint64_t chunks = all->counters().chunks_read;
  ASSERT_EQ(total, kRounds * kTracesPerRound * 2 + 1);
  ASSERT_GE(chunks, static_cast<std::uint64_t>(kRounds));

  // One trace of round 5: its two records, from its chunk alone (or, at ~1% per chunk, a
  // false positive more).
  const blackbox::TraceContext wanted = trace(5 * kTracesPerRound + 1234);
  auto by_trace = ArchiveReader::open(dir, &error);
  by_trace->set_trace_filter(wanted.trace_id);
  std::vector<std::string> found;
  by_trace->poll([&](const Record& r) {
    EXPECT_EQ(r.trace_id, wanted.trace_id);
    found.push_back(r.message);
  });
  EXPECT_EQ(found, (std::vector<std::string>{"request 1234 begins", "request 1234 ends"}));
  EXPECT_GE(by_trace->counters().chunks_read, 1u);
  EXPECT_LE(by_trace->counters().chunks_read, 2u);
  EXPECT_EQ(by_trace->counters().chunks_read + by_trace->counters().chunks_skipped, chunks);

  // A trace that was never logged: (almost) nothing is decompressed.
  auto absent = ArchiveReader::open(dir, &error);
  absent->set_trace_filter(trace(kRounds * kTracesPerRound + 7).trace_id);
  EXPECT_EQ(absent->poll([](const Record&) {}), 0u);
  EXPECT_LE(absent->counters().chunks_read, 1u);

  // A tag only round 7 used: the other chunks' site lists rule them out.
  blackbox::ReadFilter rare;
  rare.site = [](std::string_view tag, Level) { return tag == "rare"; };
  auto by_site = ArchiveReader::open(dir, &error);
  by_site->set_filter(rare);
  found.clear();
  by_site->poll([&](const Record& r) { found.push_back(r.message); });
  EXPECT_EQ(found, (std::vector<std::string>{"once in round 7"}));
  EXPECT_EQ(by_site->counters().chunks_read, 1u);
  blackbox::shutdown();
}

TEST(ArchiveRoundTrip, LappedFlusherWritesExactLossMarkers) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  blackbox::Config c = archive_config(dir);
  c.ring_bytes = 64u << 10;  // small: the producer laps the flusher at once
  c.block_bytes = 4096;
  c.max_string_bytes = 1024;
  c.flush_interval_ms = 60000;  // and the flusher would not come by itself
  const auto init = blackbox::init(c);
  ASSERT_TRUE(init.ok()) << init.error;
  BBX_INFO("first {}", 0);
  ASSERT_TRUE(blackbox::flush());
  // Freeze the flusher out: log far more than the ring holds between two flushes. A wake
  // from the fill mark may let it drain some; whatever it misses must be counted.
  constexpr std::uint64_t kRecords = 200'000;
  for (std::uint64_t i = 0; i < kRecords; ++i) BBX_INFO("bulk {i} {pad}", i, "0123456789");
  ASSERT_TRUE(blackbox::flush());
  std::string error;
  auto reader = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(reader) << error;
  std::uint64_t bulk = 0, next_i = 0;
  bool ordered = true;
  reader->poll([&](const Record& r) {
    if (r.message_template != "bulk {i} {pad}") return;
    const auto i = std::get<std::uint64_t>(r.fields.at(0).value);
    ordered = ordered && i >= next_i && r.sequence == i + 1;
    next_i = i + 1;
    ++bulk;
  });
  EXPECT_TRUE(ordered);
  EXPECT_TRUE(reader->damage().empty());
  // Archived + lost == logged, exactly; and the loss was real (the ring holds ~2,000).
  EXPECT_EQ(bulk + reader->lost_records(), kRecords);
  EXPECT_GT(reader->lost_records(), 0u);
  for (const auto& loss : reader->losses()) {
    EXPECT_EQ(loss.cause, blackbox::LossCause::overwritten);
    EXPECT_GT(loss.time_ns, 0);
  }
  EXPECT_EQ(blackbox::stats().lost_overwritten, reader->lost_records());
}

TEST(ArchiveRoundTrip, RetentionKeepsTheNewestFilesWithinTheLimit) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  blackbox::Config c = archive_config(dir);
  c.retain_bytes = 256u << 10;  // about four files of 64 KiB
  ASSERT_TRUE(blackbox::init(c).ok());
  for (std::uint64_t i = 0; i < 400'000; ++i) {
    log_one(0, i);
    if (i % 20'000 == 19'999) {
      ASSERT_TRUE(blackbox::flush());
    }
  }
  ASSERT_TRUE(blackbox::flush());
  const blackbox::Stats stats = blackbox::stats();
  EXPECT_GT(stats.archive_files_deleted, 5u);
  std::uint64_t total = 0, files = 0;
  std::string newest;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    total += e.file_size();
    ++files;
    newest = std::max(newest, e.path().filename().string());
  }
  EXPECT_EQ(files + stats.archive_files_deleted, stats.archive_files_created);
  // Within the limit, give or take the file being written when retention last ran.
  EXPECT_LE(total, c.retain_bytes + c.rotate_bytes + (64u << 10));
  EXPECT_EQ(std::filesystem::path(blackbox::archive_path()).filename(), newest);
  // What is left reads cleanly and ends with the last record logged.
  std::string error;
  auto reader = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(reader) << error;
  std::uint64_t last_sequence = 0;
  reader->poll([&](const Record& r) { last_sequence = std::max(last_sequence, r.sequence); });
  EXPECT_TRUE(reader->damage().empty());
  EXPECT_EQ(last_sequence, 399'999u);
}

// A shipper's retention hold (blackbox/retention.hpp) from before it read anything keeps
// every file beyond retain_bytes, up to retain_unshipped_bytes; what retention deletes past
// that ceiling is counted as unshipped, in stats() and in the ring file's telemetry.
TEST(ArchiveRoundTrip, AHoldKeepsFilesUpToTheCeilingAndWhatGoesIsCounted) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  ASSERT_EQ(
      blackbox::set_retention_hold(dir, "ship-test", std::numeric_limits<std::int64_t>::min()), "");
  blackbox::Config c = archive_config(dir);
  c.retain_bytes = 64u << 10;             // one file
  c.retain_unshipped_bytes = 384u << 10;  // about six, while a hold keeps them
  ASSERT_TRUE(blackbox::init(c).ok());
  for (std::uint64_t i = 0; i < 400'000; ++i) {
    log_one(0, i);
    if (i % 20'000 == 19'999) {
      ASSERT_TRUE(blackbox::flush());
    }
  }
  ASSERT_TRUE(blackbox::flush());
  const blackbox::Stats stats = blackbox::stats();
  // Every file deleted was held: each is counted as unshipped, with its bytes.
  EXPECT_GT(stats.archive_files_deleted, 2u);
  EXPECT_EQ(stats.archive_files_deleted_unshipped, stats.archive_files_deleted);
  EXPECT_GT(stats.archive_bytes_deleted_unshipped, stats.archive_files_deleted * (60u << 10));
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".bbx") total += e.file_size();
  }
  // Beyond retain_bytes, within the ceiling (give or take the file being written).
  EXPECT_GT(total, 3 * c.retain_bytes);
  EXPECT_LE(total, c.retain_unshipped_bytes + c.rotate_bytes + (64u << 10));
  std::string error;
  const auto t = blackbox::read_telemetry(blackbox::ring_path(), &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->archive_files_deleted_unshipped, stats.archive_files_deleted_unshipped);
  EXPECT_EQ(t->archive_bytes_deleted_unshipped, stats.archive_bytes_deleted_unshipped);
}

TEST(ArchiveRoundTrip, ExitPathsFlushAndRemoveTheRing) {
  for (const std::string mode : {"return", "exit", "shutdown"}) {
    const std::string ring_dir = blackbox::test::make_temp_dir("ring");
    const std::string archive_dir = blackbox::test::make_temp_dir("archive");
    const auto result = blackbox::test::run_helper(
        {"archive-exit", mode}, {"BBX_DIR=" + ring_dir, "BBX_ARCHIVE_DIR=" + archive_dir});
    ASSERT_EQ(result.status, 0) << mode << ": " << result.out;
    EXPECT_TRUE(std::filesystem::is_empty(ring_dir)) << mode << ": the ring file was left";
    std::string error;
    auto reader = ArchiveReader::open(archive_dir, &error);
    ASSERT_TRUE(reader) << error;
    std::uint64_t n = 0;
    reader->poll([&](const Record& r) {
      EXPECT_EQ(std::get<std::uint64_t>(r.fields.at(0).value), n);
      ++n;
    });
    EXPECT_EQ(n, 30'000u) << mode;
    EXPECT_TRUE(reader->damage().empty());
  }
}

// The disk is full from the first record to a normal exit: the final flush fails, so the
// ring file must stay (it is all there is of those records), and the next start of the app
// archives it, every record exactly once, ended as an exit (not a kill).
TEST(ArchiveRoundTrip, ARingTheArchiveCouldNotTakeAtExitIsKeptAndRecovered) {
  const std::string ring_dir = blackbox::test::make_temp_dir("ring");
  const std::string archive_dir = blackbox::test::make_temp_dir("archive");
  const std::vector<std::string> env = {"BBX_DIR=" + ring_dir, "BBX_ARCHIVE_DIR=" + archive_dir,
                                        "BBX_APP=fullexit"};
  const auto full = blackbox::test::run_helper({"archive-exit-full"}, env);
  ASSERT_EQ(full.status, 0) << full.out;
  EXPECT_NE(full.out.find("is kept for recovery"), std::string::npos) << full.out;
  std::size_t rings = 0;
  for (const auto& e : std::filesystem::directory_iterator(ring_dir)) {
    rings += e.path().extension() == ".bbr" ? 1 : 0;
  }
  ASSERT_EQ(rings, 1u) << "the ring file was removed with records the archive does not have";
  const auto next = blackbox::test::run_helper({"start", "fullexit"}, env);
  ASSERT_EQ(next.status, 0) << next.out;
  EXPECT_NE(next.out.find("recovered 1 5000"), std::string::npos) << next.out;
  std::string error;
  auto reader = ArchiveReader::open(archive_dir, &error);
  ASSERT_TRUE(reader) << error;
  std::uint64_t n = 0;
  reader->poll([&](const Record& r) {
    if (r.message_template != "n {}") return;
    EXPECT_EQ(std::get<std::uint64_t>(r.fields.at(0).value), n);
    ++n;
  });
  EXPECT_EQ(n, 5'000u);
  EXPECT_TRUE(reader->damage().empty());
  std::size_t exited = 0;
  for (const auto& file : reader->files()) {
    exited += file.end == blackbox::ArchiveFileInfo::End::exited ? 1 : 0;
    EXPECT_NE(file.end, blackbox::ArchiveFileInfo::End::killed) << file.path;
  }
  EXPECT_GE(exited, 1u);
}

}  // namespace
