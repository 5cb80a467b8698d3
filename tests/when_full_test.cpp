// Config::when_full = wait: a producer that laps the archive waits for it (spin, yield,
// sleep) instead of overwriting, so the archive is complete under any load; max_wait bounds
// the wait, after which the ring is overwritten and the loss counted as in overwrite mode;
// a crash while a producer waits loses nothing it was told was logged. The flusher is held
// up through the write seam (sys.hpp).
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/control.hpp"
#include "blackbox/reader.hpp"
#include "blackbox/recovery.hpp"
#include "ring/full_wait.hpp"
#include "support/child.hpp"
#include "support/test_env.hpp"
#include "sys/sys.hpp"

namespace {

using namespace std::chrono_literals;

// The gate: while closed, the flusher's writes do not return (a disk that hangs).
std::atomic<bool> g_gate_closed{false};
std::atomic<bool> g_write_held{false};  // a write is held at the closed gate now
// A slow disk: every write takes this long first (0: none).
std::atomic<long> g_write_delay_ns{0};

ssize_t gated_write(int fd, const void* data, std::size_t bytes) {
  while (g_gate_closed.load()) {
    g_write_held = true;
    sched_yield();
  }
  g_write_held = false;
  if (const long ns = g_write_delay_ns.load(); ns != 0) {
    const timespec ts{0, ns};
    nanosleep(&ts, nullptr);
  }
  return ::write(fd, data, bytes);
}

// 64 KiB rings of 4 KiB blocks: about 2,000 records of "n {}" per lap.
blackbox::Config small_ring(const std::string& archive_dir, std::chrono::milliseconds max_wait) {
  blackbox::sys::calls().write = gated_write;  // before the flusher starts
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "waiter";
  c.archive_dir = archive_dir;
  c.ring_bytes = 64u << 10;
  c.block_bytes = 4096;
  c.max_string_bytes = 1024;
  c.flush_interval_ms = 60000;  // passes on the fill mark, flush() and waits only
  c.when_full = blackbox::WhenFull::wait;
  c.max_wait = max_wait;
  return c;
}

// Closes the gate and holds the flusher in a write there (a flush of one more record, from
// a thread of its own, which returns once the gate opens): from then on it drains nothing,
// so whatever laps the ring is overwritten. Without this the flusher could go on draining
// into its chunk in memory (a chunk is written only when due) and lose nothing.
std::thread hold_the_flusher(std::uint64_t& logged) {
  g_gate_closed = true;
  BBX_INFO("n {}", logged++);
  std::thread flush([] { (void)blackbox::flush(); });
  while (!g_write_held.load()) sched_yield();
  return flush;
}

// Every record "n {}" of the archive in `dir`, in order; fails the test on a gap or a
// duplicate. Returns how many there were and what the archive counts as lost.
struct Archived {
  std::uint64_t records = 0, lost = 0;
  bool in_order = true;
};
Archived read_archive(const std::string& dir) {
  Archived a;
  std::string error;
  auto reader = blackbox::ArchiveReader::open(dir, &error);
  EXPECT_TRUE(reader) << error;
  if (!reader) return a;
  std::uint64_t next = 0;
  reader->poll([&](const blackbox::Record& r) {
    if (r.fields.size() != 1) return;
    const auto n = std::get<std::uint64_t>(r.fields[0].value);
    a.in_order = a.in_order && n >= next && r.sequence == n;
    next = n + 1;
    ++a.records;
  });
  EXPECT_TRUE(reader->damage().empty());
  a.lost = reader->lost_records();
  return a;
}

TEST(WhenFull, WaitingProducerLosesNothingWhileTheDiskHangs) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  ASSERT_TRUE(blackbox::init(small_ring(dir, 10min)).ok());
  BBX_INFO("started");
  ASSERT_TRUE(blackbox::flush());
  // The disk hangs; a thread logs ten laps of the ring. It must wait for the archive.
  g_gate_closed = true;
  constexpr std::uint64_t kRecords = 20'000;
  std::thread producer([] {
    for (std::uint64_t i = 0; i < kRecords; ++i) BBX_INFO("n {}", i);
  });
  while (!blackbox::ring::producers_waiting()) sched_yield();  // it is waiting now
  g_gate_closed = false;                                       // the disk comes back
  producer.join();
  ASSERT_TRUE(blackbox::flush());
  const blackbox::Stats s = blackbox::stats();
  EXPECT_GE(s.producer_waits, 1u);
  EXPECT_GT(s.producer_wait_ns, 0u);
  EXPECT_EQ(s.producer_gave_up, 0u);
  EXPECT_EQ(s.lost_overwritten, 0u);
  // Every record once, in order, none lost.
  const Archived a = read_archive(dir);
  EXPECT_TRUE(a.in_order);
  EXPECT_EQ(a.lost, 0u);
  EXPECT_EQ(a.records, kRecords);
  EXPECT_EQ(s.records_archived, kRecords + 1);  // and "started"
  // The telemetry in the ring file says how often and how long producers waited.
  std::string error;
  const auto t = blackbox::read_telemetry(blackbox::ring_path(), &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->producer_waits, s.producer_waits);
  EXPECT_EQ(t->producer_wait_ns, s.producer_wait_ns);
  EXPECT_EQ(t->producer_gave_up, 0u);
  EXPECT_EQ(t->lost_overwritten, 0u);
}

TEST(WhenFull, FlatOutIntoASlowDiskLosesNothing) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  g_write_delay_ns = 200'000;  // every archive write takes 0.2 ms more
  ASSERT_TRUE(blackbox::init(small_ring(dir, 10min)).ok());
  // Four threads, flat out, 100 laps of their rings in all.
  constexpr std::uint64_t kPerThread = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (std::uint64_t i = 0; i < kPerThread; ++i) BBX_INFO("n {}", i);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(blackbox::flush());
  const blackbox::Stats s = blackbox::stats();
  EXPECT_EQ(s.lost_overwritten, 0u);
  EXPECT_EQ(s.producer_gave_up, 0u);
  EXPECT_EQ(s.records_archived, 4 * kPerThread);
  // Each thread's records once each, in order (per thread: sequence == n).
  std::string error;
  auto reader = blackbox::ArchiveReader::open(dir, &error);
  ASSERT_TRUE(reader) << error;
  std::map<std::uint32_t, std::uint64_t> next;  // thread id -> next n
  bool in_order = true;
  std::uint64_t records = 0;
  reader->poll([&](const blackbox::Record& r) {
    const auto n = std::get<std::uint64_t>(r.fields.at(0).value);
    in_order = in_order && next[r.tid] == n;
    next[r.tid] = n + 1;
    ++records;
  });
  EXPECT_TRUE(in_order);
  EXPECT_EQ(records, 4 * kPerThread);
  EXPECT_EQ(reader->lost_records(), 0u);
  EXPECT_EQ(next.size(), 4u);
}

TEST(WhenFull, MaxWaitTurnsWaitsIntoCountedOverwrites) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  ASSERT_TRUE(blackbox::init(small_ring(dir, 20ms)).ok());
  std::uint64_t logged = 0;
  for (int i = 0; i < 100; ++i) BBX_INFO("n {}", logged++);
  ASSERT_TRUE(blackbox::flush());
  // The disk hangs (until the end of the test), the flusher stuck in a write: the first claim
  // that would overwrite waits 20 ms, gives up and overwrites; the next ones do not wait for
  // an archive that has not moved since (one max_wait, not one per block).
  std::thread held = hold_the_flusher(logged);
  for (int i = 0; i < 10'000; ++i) BBX_INFO("n {}", logged++);
  blackbox::Stats s = blackbox::stats();
  EXPECT_EQ(s.producer_waits, 1u);
  EXPECT_GE(s.producer_wait_ns, 20'000'000u);  // it waited its max_wait out
  EXPECT_GE(s.producer_gave_up, 2u);           // that claim and the later ones
  g_gate_closed = false;
  held.join();
  ASSERT_TRUE(blackbox::flush());
  s = blackbox::stats();
  // Exact: every record logged is archived or counted lost (overwritten).
  const Archived a = read_archive(dir);
  EXPECT_TRUE(a.in_order);
  EXPECT_GT(a.lost, 0u);
  EXPECT_EQ(a.records + a.lost, logged);
  EXPECT_EQ(a.lost, s.lost_overwritten);
  EXPECT_EQ(a.records, s.records_archived);
  // Once the archive moves again, a full ring waits again (and loses nothing more).
  const std::uint64_t gave_up_before = s.producer_gave_up;
  g_write_delay_ns = 200'000;
  for (int i = 0; i < 20'000; ++i) BBX_INFO("n {}", logged++);
  ASSERT_TRUE(blackbox::flush());
  s = blackbox::stats();
  const Archived b = read_archive(dir);
  EXPECT_EQ(b.records + b.lost, logged);
  EXPECT_EQ(b.lost, a.lost) << "waited, lost nothing more";
  EXPECT_EQ(s.producer_gave_up, gave_up_before);
}

TEST(WhenFull, OverwriteModeNeverWaits) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  blackbox::Config c = small_ring(dir, 10min);
  c.when_full = blackbox::WhenFull::overwrite;
  ASSERT_TRUE(blackbox::init(c).ok());
  std::uint64_t logged = 0;
  BBX_INFO("n {}", logged++);
  ASSERT_TRUE(blackbox::flush());
  std::thread held = hold_the_flusher(logged);
  for (int i = 0; i < 10'000; ++i) BBX_INFO("n {}", logged++);  // returns: no wait
  const blackbox::Stats s = blackbox::stats();
  EXPECT_EQ(s.producer_waits, 0u);
  EXPECT_EQ(s.producer_gave_up, 0u);
  g_gate_closed = false;
  held.join();
  ASSERT_TRUE(blackbox::flush());
  const Archived a = read_archive(dir);
  EXPECT_GT(a.lost, 0u);
  EXPECT_EQ(a.records + a.lost, logged);
}

TEST(WhenFull, NoArchiveNoWait) {
  blackbox::Config c = small_ring("", 10min);
  ASSERT_TRUE(blackbox::init(c).ok());
  for (int i = 0; i < 10'000; ++i) BBX_INFO("n {}", std::uint64_t(i));  // returns: no wait
  const blackbox::Stats s = blackbox::stats();
  EXPECT_EQ(s.producer_waits, 0u);
  EXPECT_EQ(s.producer_gave_up, 0u);
}

// A child logs in wait mode and acknowledges each call on stdout; its disk hangs, its ring
// fills, its producer waits, and then it crashes (abort, in another thread). Everything it
// acknowledged is in the archive or in its ring file, and recovery puts it all in the
// archive: nothing lost.
TEST(WhenFull, CrashWhileWaitingLosesNothingAcknowledged) {
  const std::string rings = blackbox::test::make_temp_dir("rings");
  const std::string archive = blackbox::test::make_temp_dir("archive");
  blackbox::test::Child child({blackbox::test::helper_path(), "wait-crash"},
                              {{"BBX_DIR", rings}, {"BBX_ARCHIVE_DIR", archive}});
  const std::string acks = child.read_rest();  // until it dies
  EXPECT_EQ(child.wait(), 128 + SIGABRT);
  ASSERT_EQ(acks.size() % sizeof(std::uint64_t), 0u);
  const std::uint64_t acked = acks.size() / sizeof(std::uint64_t);
  for (std::uint64_t i = 0; i < acked; ++i) {
    std::uint64_t value;
    std::memcpy(&value, acks.data() + i * sizeof value, sizeof value);
    ASSERT_EQ(value, i);
  }
  EXPECT_GT(acked, 2'000u) << "more than a lap of its ring";

  blackbox::Config config = blackbox::Config::from_env();
  config.archive_dir = archive;
  const auto recovered = blackbox::recover_dead_rings(rings, config, "waitcrash");
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].outcome, blackbox::RecoveredRing::Outcome::recovered)
      << recovered[0].error;
  EXPECT_EQ(recovered[0].signal, SIGABRT);
  EXPECT_EQ(recovered[0].lost, 0u);
  const Archived a = read_archive(archive);
  EXPECT_TRUE(a.in_order);
  EXPECT_EQ(a.lost, 0u);
  // Every acknowledged record (and the one it was waiting to write, perhaps).
  EXPECT_GE(a.records, acked);
  EXPECT_LE(a.records, acked + 1);
}

}  // namespace
