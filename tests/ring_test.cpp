// The ring on one thread, with a deliberately small geometry so wrapping is quick: exact
// loss accounting, incremental reads, truncation, trace context, levels, thread slots.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <barrier>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "format/ring_layout.hpp"
#include "support/test_env.hpp"

namespace {

struct Wide {
  int n;
};

}  // namespace

// Formats as n copies of "ab": a type only fmt knows, formatted at the call site.
template <>
struct fmt::formatter<Wide> : fmt::formatter<std::string_view> {
  auto format(const Wide& w, format_context& ctx) const {
    auto out = ctx.out();
    for (int i = 0; i < w.n; ++i) out = fmt::format_to(out, "ab");
    return out;
  }
};

namespace {

constexpr std::uint64_t kRing = 64 * 1024;
constexpr std::uint32_t kBlock = 4096;
constexpr std::uint32_t kMaxThreads = 4;
constexpr std::uint32_t kMaxString = 64;

void start_small_ring() {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "ring_test";
  config.levels = "trace";
  config.ring_bytes = kRing;
  config.block_bytes = kBlock;
  config.max_threads = kMaxThreads;
  config.max_string_bytes = kMaxString;
  const auto result = blackbox::init(config);
  ASSERT_TRUE(result.ok()) << result.error;
}

std::vector<blackbox::Record> tagged(const std::vector<blackbox::Record>& all,
                                     std::string_view tag) {
  std::vector<blackbox::Record> out;
  for (const auto& r : all) {
    if (r.tag == tag) out.push_back(r);
  }
  return out;
}

std::uint64_t as_u64(const blackbox::Record& r, std::size_t field) {
  return std::get<std::uint64_t>(r.fields.at(field).value);
}

TEST(RingTest, RecordsWithinCapacityAllComeBackInOrder) {
  start_small_ring();
  for (std::uint64_t i = 0; i < 500; ++i) {
    BBX_LOG("fit", blackbox::Level::info, "record {}", i);
  }
  std::vector<blackbox::Loss> losses;
  const auto records = tagged(blackbox::test::read_own_ring(&losses), "fit");
  ASSERT_EQ(records.size(), 500u);
  for (std::uint64_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(as_u64(records[i], 0), i);
    if (i > 0) {
      EXPECT_EQ(records[i].sequence, records[i - 1].sequence + 1);
      EXPECT_GT(records[i].position, records[i - 1].position);
      EXPECT_GE(records[i].time_ns, records[i - 1].time_ns);
    }
  }
  EXPECT_TRUE(losses.empty());
  EXPECT_EQ(blackbox::ring_path().find(blackbox::test::test_dir()), 0u);
}

TEST(RingTest, WrappingLosesOldestBlocksAndCountsThemExactly) {
  start_small_ring();
  BBX_LOG("wrap", blackbox::Level::info, "setup {} of {}", 0, 0);
  std::string error;
  auto reader = blackbox::RingReader::open_self(&error);
  ASSERT_TRUE(reader) << error;
  reader->poll([](const blackbox::Record&) {});  // drain: count only what follows
  const std::uint64_t lost_before = reader->lost_records();
  constexpr std::uint64_t kTotal = 20'000;  // ~10 laps of a 64 KiB ring
  for (std::uint64_t i = 0; i < kTotal; ++i) {
    BBX_LOG("wrap", blackbox::Level::info, "record {} of {}", i, kTotal);
  }
  std::vector<blackbox::Record> records;
  reader->poll([&](const blackbox::Record& r) {
    if (r.tag == "wrap") records.push_back(r);
  });
  ASSERT_FALSE(records.empty());
  // What survives is one contiguous run ending at the last record...
  EXPECT_EQ(as_u64(records.back(), 0), kTotal - 1);
  for (std::size_t i = 1; i < records.size(); ++i) {
    ASSERT_EQ(as_u64(records[i], 0), as_u64(records[i - 1], 0) + 1);
    ASSERT_EQ(records[i].sequence, records[i - 1].sequence + 1);
  }
  // ...at least (blocks - 1) blocks' worth of it...
  const std::uint64_t record_bytes = 16 + 8 + 8;
  const std::uint64_t min_kept = (kRing / kBlock - 1) * ((kBlock - 40) / record_bytes);
  EXPECT_GE(records.size(), min_kept);
  // ...and everything before it is counted, exactly, as lost.
  const std::uint64_t first = as_u64(records.front(), 0);
  EXPECT_EQ(reader->lost_records() - lost_before, first);
}

TEST(RingTest, IncrementalPollsReturnOnlyNewRecords) {
  start_small_ring();
  BBX_LOG("incr", blackbox::Level::info, "setup");
  auto reader = blackbox::RingReader::open_self();
  ASSERT_TRUE(reader);
  reader->poll([](const blackbox::Record&) {});  // drain what earlier tests left
  const std::uint64_t lost_before = reader->lost_records();
  std::uint64_t next = 0;
  for (int round = 0; round < 50; ++round) {
    const int batch = round * 7 % 300;
    for (int i = 0; i < batch; ++i) BBX_LOG("incr", blackbox::Level::info, "n {}", next + i);
    std::vector<std::uint64_t> got;
    reader->poll([&](const blackbox::Record& r) {
      if (r.tag == "incr") got.push_back(as_u64(r, 0));
    });
    ASSERT_EQ(got.size(), static_cast<std::size_t>(batch));
    for (std::uint64_t v : got) ASSERT_EQ(v, next++);
  }
  EXPECT_EQ(reader->lost_records(), lost_before);
}

TEST(RingTest, LongStringsAreTruncatedAtUtf8BoundariesAndFlagged) {
  start_small_ring();
  const std::string ascii(200, 'a');
  std::string utf8;
  while (utf8.size() < 100) utf8 += "é";  // two bytes each: 64 cuts inside none
  const std::string short_one = "short";
  BBX_LOG("trunc", blackbox::Level::info, "{a} {u} {s}", ascii, utf8, short_one);
  const auto records = tagged(blackbox::test::read_own_ring(), "trunc");
  ASSERT_EQ(records.size(), 1u);
  const auto& r = records[0];
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(std::get<std::string>(r.fields[0].value), std::string(kMaxString, 'a'));
  EXPECT_TRUE(r.fields[0].truncated);
  const auto& u = std::get<std::string>(r.fields[1].value);
  EXPECT_EQ(u.size(), kMaxString);  // 64 is even: 32 whole "é"
  EXPECT_EQ(u, utf8.substr(0, kMaxString));
  EXPECT_TRUE(r.fields[1].truncated);
  EXPECT_FALSE(r.fields[2].truncated);
  EXPECT_EQ(std::get<std::string>(r.fields[2].value), "short");

  std::string odd = "x";
  while (odd.size() < 100) odd += "é";  // 'x' then pairs: byte 64 is a continuation byte
  BBX_LOG("trunc2", blackbox::Level::info, "{}", odd);
  const auto r2 = tagged(blackbox::test::read_own_ring(), "trunc2");
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r2[0].fields[0].value), odd.substr(0, kMaxString - 1));
}

TEST(RingTest, TextFormattedAtTheCallSiteIsTruncatedLikeAString) {
  start_small_ring();
  BBX_LOG("wide", blackbox::Level::info, "short {} long {}", Wide{3}, Wide{100});
  const auto r = tagged(blackbox::test::read_own_ring(), "wide");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r[0].fields[0].value), "ababab");
  EXPECT_FALSE(r[0].fields[0].truncated);
  std::string cut;
  for (std::uint32_t i = 0; i < kMaxString / 2; ++i) cut += "ab";
  EXPECT_EQ(std::get<std::string>(r[0].fields[1].value), cut);
  EXPECT_TRUE(r[0].fields[1].truncated);
  EXPECT_EQ(r[0].message, "short ababab long " + cut);
}

TEST(RingTest, ManyStringsTooBigForOneBlockAreCutToFit) {
  start_small_ring();
  const std::string s(kMaxString, 'z');
  // 60 strings of 64 bytes (+ 4-byte lengths) do not fit in a 4 KiB block: each gets an
  // equal share of the room.
  BBX_LOG("fit_all", blackbox::Level::info,
          "{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}"
          "{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}",
          s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s,
          s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s);
  const auto records = tagged(blackbox::test::read_own_ring(), "fit_all");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].truncated);
  ASSERT_EQ(records[0].fields.size(), 60u);
  const auto share = std::get<std::string>(records[0].fields[0].value).size();
  EXPECT_LT(share, kMaxString);
  EXPECT_GT(share, 40u);
}

TEST(RingTest, TraceScopesNestAndTagRecords) {
  start_small_ring();
  auto a = blackbox::TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  auto b = blackbox::TraceContext::parse("00-11111111111111111111111111111111-2222222222222222-00");
  ASSERT_TRUE(a && b);
  BBX_LOG("trace", blackbox::Level::info, "outside {}", 0);
  {
    blackbox::TraceScope outer(*a);
    BBX_LOG("trace", blackbox::Level::info, "outer {}", 1);
    {
      blackbox::TraceScope inner(*b);
      BBX_LOG("trace", blackbox::Level::info, "inner {}", 2);
      EXPECT_EQ(blackbox::current_trace(), b);
    }
    BBX_LOG("trace", blackbox::Level::info, "outer again {}", 3);
  }
  BBX_LOG("trace", blackbox::Level::info, "outside again {}", 4);
  EXPECT_FALSE(blackbox::current_trace().has_value());
  const auto r = tagged(blackbox::test::read_own_ring(), "trace");
  ASSERT_EQ(r.size(), 5u);
  EXPECT_FALSE(r[0].has_trace);
  EXPECT_TRUE(r[1].has_trace);
  EXPECT_EQ(r[1].trace_id, a->trace_id);
  EXPECT_EQ(r[1].span_id, a->span_id);
  EXPECT_EQ(r[2].trace_id, b->trace_id);
  EXPECT_EQ(r[2].span_id, b->span_id);
  EXPECT_EQ(r[3].trace_id, a->trace_id);
  EXPECT_FALSE(r[4].has_trace);
  EXPECT_EQ(r[2].message, "inner 2");
}

TEST(RingTest, DisabledLevelsSkipArgumentsAndWriteNothing) {
  start_small_ring();
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  blackbox::set_level("lvl", blackbox::Level::warn);
  BBX_LOG("lvl", blackbox::Level::info, "hidden {}", count());
  BBX_LOG("lvl", blackbox::Level::warn, "shown {}", count());
  EXPECT_EQ(evaluated, 1);
  blackbox::set_level("lvl", blackbox::Level::debug);
  BBX_LOG("lvl", blackbox::Level::info, "now shown {}", count());
  BBX_LOG("lvl", blackbox::Level::trace, "still hidden {}", count());
  EXPECT_EQ(evaluated, 2);
  ASSERT_EQ(blackbox::set_levels("off,lvl=error"), "");
  BBX_LOG("lvl", blackbox::Level::warn, "hidden again {}", count());
  BBX_LOG("other", blackbox::Level::fatal, "off for other tags {}", count());
  EXPECT_EQ(evaluated, 2);
  EXPECT_NE(blackbox::set_levels("info,bogus=loud"), "");
  const auto r = tagged(blackbox::test::read_own_ring(), "lvl");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].message, "shown 1");
  EXPECT_EQ(r[1].message, "now shown 2");
}

TEST(RingTest, ExitedThreadsGiveTheirSlotBackAndKeepTheirRecords) {
  start_small_ring();
  // Three times as many threads as slots, one after another: each reuses a slot.
  for (std::uint32_t t = 0; t < 3 * kMaxThreads; ++t) {
    std::thread([t] { BBX_LOG("exit", blackbox::Level::info, "thread {}", t); }).join();
  }
  const auto r = tagged(blackbox::test::read_own_ring(), "exit");
  ASSERT_EQ(r.size(), 3u * kMaxThreads);
  std::set<std::string> messages;
  std::set<std::uint32_t> tids;
  for (const auto& rec : r) {
    messages.insert(rec.message);
    tids.insert(rec.tid);
    EXPECT_LT(rec.slot, kMaxThreads);
  }
  EXPECT_EQ(messages.size(), 3u * kMaxThreads);
  EXPECT_EQ(tids.size(), 3u * kMaxThreads) << "each record names the thread that wrote it";
  EXPECT_EQ(blackbox::stats().dropped_no_slot, 0u);
}

TEST(RingTest, ThreadsBeyondTheLimitAreCountedNotBlocked) {
  start_small_ring();
  BBX_LOG("limit", blackbox::Level::info, "main thread holds a slot");
  // kMaxThreads + 2 threads alive at once: two of them get no slot.
  constexpr std::uint32_t kThreads = kMaxThreads + 2;
  std::barrier all_logged(kThreads);
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      BBX_LOG("limit", blackbox::Level::info, "hello");
      BBX_LOG("limit", blackbox::Level::info, "again");
      all_logged.arrive_and_wait();  // nobody exits (and frees a slot) before all logged
    });
  }
  for (auto& t : threads) t.join();
  const auto r = tagged(blackbox::test::read_own_ring(), "limit");
  // The main thread plus kMaxThreads - 1 others got slots; 3 threads' two records dropped.
  EXPECT_EQ(r.size(), 1u + 2u * (kMaxThreads - 1));
  EXPECT_EQ(blackbox::stats().dropped_no_slot, 2u * 3u);
}

TEST(RingTest, MemoryGrowsWithTheThreadsThatLogNotWithTheLimit) {
  start_small_ring();
  BBX_LOG("mem", blackbox::Level::info, "main thread {}", 1);
  std::thread([] { BBX_LOG("mem", blackbox::Level::info, "second thread {}", 2); }).join();
  struct stat st {};
  ASSERT_EQ(stat(blackbox::ring_path().c_str(), &st), 0);
  const std::uint64_t allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
  const std::uint64_t slots_used =
      std::min<std::uint64_t>(blackbox::stats().threads_attached, kMaxThreads);
  ASSERT_GE(slots_used, 2u);
  // Reserved: header page, the control region, the metrics header page and shared stripe,
  // the first 64 KiB of the 1 MiB site table, the slot headers' page, and one ring and one
  // metrics stripe per thread that logged; the other slots, the metric table and the rest of
  // the site table stay holes in the file.
  const std::uint64_t stripe =
      blackbox::ring::metrics_stripe_bytes(blackbox::Config{}.metric_cells);
  const std::uint64_t expected = 4096 + blackbox::ring::control_region_bytes(kMaxThreads) + 4096 +
                                 stripe + 64 * 1024 + 4096 + slots_used * (kRing + stripe);
  EXPECT_LE(allocated, expected);
  EXPECT_GE(allocated, slots_used * kRing);
  EXPECT_GT(static_cast<std::uint64_t>(st.st_size), allocated + 512 * 1024);
}

}  // namespace

namespace {

// One call site per N: each instantiation has its own static site.
template <int N>
void distinct_site(std::uint64_t i) {
  BBX_LOG("sites", blackbox::Level::info, "site {n} call {i}", N, i);
}

// In blocks of 100: clang limits a fold expression to 256 operands.
template <int Base, int... N>
void call_block(std::uint64_t i, std::integer_sequence<int, N...>) {
  (distinct_site<Base + N>(i), ...);
}

template <int... Block>
void call_every_site(std::uint64_t i, std::integer_sequence<int, Block...>) {
  (call_block<Block * 100>(i, std::make_integer_sequence<int, 100>{}), ...);
}

}  // namespace

// More call sites than the site table holds (64 KiB: about 600 of these): the records of
// the sites that did not fit are counted exactly, by that cause, in stats(), in the ring
// header (bbx-ringdump, RingInfo) and in the archive's loss markers; they once vanished with
// every counter at 0.
TEST(RingTest, RecordsOfSitesTheFullSiteTableCouldNotTakeAreCountedLost) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "site_table";
  config.site_table_bytes = 64 * 1024;
  config.loss_budget = 0;  // records are counted exactly: no budget warning among them
  config.archive_dir = archive;
  ASSERT_TRUE(blackbox::init(config).ok());
  ::testing::internal::CaptureStderr();
  constexpr int kSites = 1200;
  constexpr std::uint64_t kCalls = 3;
  for (std::uint64_t i = 0; i < kCalls; ++i) {
    call_every_site(i, std::make_integer_sequence<int, kSites / 100>{});
  }
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("the site table is full"), std::string::npos) << said;
  const blackbox::Stats s = blackbox::stats();
  ASSERT_GT(s.sites_dropped, 0u);
  ASSERT_LT(s.sites_dropped, static_cast<std::uint64_t>(kSites));
  EXPECT_EQ(s.dropped_site_table_full, s.sites_dropped * kCalls);

  ASSERT_TRUE(blackbox::flush());
  std::string error;
  auto reader = blackbox::ArchiveReader::open(archive, &error);
  ASSERT_TRUE(reader) << error;
  std::uint64_t archived = 0;
  reader->poll([&](const blackbox::Record& r) { archived += r.tag == "sites"; });
  std::uint64_t lost = 0;
  for (const auto& l : reader->losses()) {
    if (l.cause == blackbox::LossCause::site_table_full) lost += l.records;
  }
  EXPECT_EQ(lost, s.dropped_site_table_full);
  EXPECT_EQ(archived + lost, kSites * kCalls);

  auto ring = blackbox::RingReader::open(blackbox::ring_path(), &error);
  ASSERT_TRUE(ring) << error;
  EXPECT_EQ(ring->info().dropped_site_table_full, s.dropped_site_table_full);
  EXPECT_EQ(ring->info().sites_dropped, s.sites_dropped);
  // The telemetry says the same, by cause (these were once counted as overwritten too).
  const auto t = ring->telemetry();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->lost_site_table_full, s.dropped_site_table_full);
  EXPECT_EQ(t->lost_overwritten, 0u);
  EXPECT_EQ(blackbox::stats().lost_overwritten, 0u);
  EXPECT_EQ(t->lost(), s.dropped_site_table_full);
  std::uint64_t tagged = 0;
  for (const auto& tag : t->per_tag) tagged += tag.tag == "sites" ? tag.counts.records : 0;
  EXPECT_EQ(tagged, archived);
}

namespace {

// Bytes the ring file holds on its filesystem (its holes cost nothing).
std::uint64_t ring_file_allocated() {
  struct stat st {};
  if (stat(blackbox::ring_path().c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

constexpr std::uint64_t kMiB = 1 << 20;

}  // namespace

// Threads that come and go, one after another: a new thread reuses an exited thread's slot,
// whose ring is mapped already, so memory follows the threads alive at once (here one or
// two), not every thread that ever logged: 1,000 threads once touched every one of the 256
// rings (a whole ring each, 256 MiB).
TEST(RingTest, ShortLivedThreadsReuseTheRingsOfThreadsThatExited) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "short_lived";
  config.archive_dir.clear();  // nobody drains: any exited slot is taken
  ASSERT_TRUE(blackbox::init(config).ok());
  BBX_INFO("main {}", 0);
  for (int i = 0; i < 1000; ++i) std::thread([i] { BBX_INFO("thread {}", i); }).join();
  EXPECT_EQ(blackbox::stats().threads_attached, 1001u);
  // The header page, the site table's first 64 KiB, the slot headers (256 x 128 bytes), the
  // main thread's ring and one for all the others: at most 3 MiB of the 257 MiB file.
  EXPECT_LE(ring_file_allocated(), 3 * kMiB);
}

// With a flusher, an exited slot is reused only once the flusher has read it (all but a
// quarter): threads that come and go lose nothing, and still share few rings. (Each new
// owner starts a fresh block, so piling them onto a slot the flusher had not read once lost
// 5.4% of 10,000 such threads' records as overwritten.)
TEST(RingTest, ShortLivedThreadsLoseNothingWhileTheFlusherKeepsUp) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "short_lived";
  config.archive_dir = archive;
  config.flush_interval_ms = 60000;  // passes come from flush() and the fill mark only
  ASSERT_TRUE(blackbox::init(config).ok());
  for (int i = 0; i < 2000; ++i) {
    std::thread([i] { BBX_INFO("thread {}", i); }).join();
    // Every 8 threads (8 blocks, an eighth of a ring) the flusher has read everything.
    if (i % 8 == 7) {
      ASSERT_TRUE(blackbox::flush());
    }
  }
  ASSERT_TRUE(blackbox::flush());
  const blackbox::Stats s = blackbox::stats();
  EXPECT_EQ(s.lost_overwritten, 0u);
  EXPECT_EQ(s.records_archived, 2000u);
  EXPECT_LE(ring_file_allocated(), 3 * kMiB);
}
