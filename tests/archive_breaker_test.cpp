// A full (or failing) disk: the producers never block, the breaker opens, every record that
// could not be kept is counted exactly, and the archive recovers when space returns. The
// disk is made full through the write seam (sys.hpp).
#include <errno.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <future>
#include <set>
#include <string>
#include <vector>

#include "archive/flusher.hpp"
#include "blackbox/blackbox.hpp"
#include "blackbox/control.hpp"
#include "blackbox/reader.hpp"
#include "ring/ring_memory.hpp"
#include "ring/wake.hpp"
#include "support/test_env.hpp"
#include "sys/clock.hpp"
#include "sys/sys.hpp"

namespace {

using blackbox::ArchiveReader;
using blackbox::LossCause;
using blackbox::Record;

std::atomic<int> g_fail_errno{0};  // 0: writes succeed

ssize_t failing_write(int fd, const void* data, std::size_t bytes) {
  if (const int err = g_fail_errno.load(); err != 0) {
    errno = err;
    return -1;
  }
  return ::write(fd, data, bytes);
}

// Installed before the logger starts, so the flusher thread only ever sees this function.
void install_disk(const std::string& dir, std::uint64_t ring_bytes) {
  blackbox::sys::calls().write = failing_write;
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "breaker";
  c.archive_dir = dir;
  c.loss_budget = 0;  // records are counted exactly: no budget warning among them
  c.ring_bytes = ring_bytes;
  c.block_bytes = 4096;
  c.max_string_bytes = 1024;
  c.flush_interval_ms = 60000;  // passes happen on flush() and the fill mark only
  const auto r = blackbox::init(c);
  ASSERT_TRUE(r.ok()) << r.error;
}

class ArchiveBreaker : public ::testing::TestWithParam<int> {};

TEST_P(ArchiveBreaker, FullDiskCountsEveryLostRecordAndRecovers) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  install_disk(dir, 64u << 10);
  ::testing::internal::CaptureStderr();
  std::uint64_t logged = 0;
  for (int i = 0; i < 1000; ++i) BBX_INFO("n {}", logged++);
  ASSERT_TRUE(blackbox::flush());
  EXPECT_FALSE(blackbox::stats().breaker_open);

  // The disk fills up. Logging goes on regardless (the producer never waits for the disk;
  // this loop completing is the proof), far more than the ring holds.
  g_fail_errno = GetParam();
  for (int i = 0; i < 100'000; ++i) BBX_INFO("n {}", logged++);
  EXPECT_FALSE(blackbox::flush());
  blackbox::Stats s = blackbox::stats();
  EXPECT_TRUE(s.breaker_open);
  EXPECT_EQ(s.breaker_trips, 1u);
  EXPECT_GE(s.write_errors, 1u);
  EXPECT_EQ(s.last_write_errno, GetParam());
  for (int i = 0; i < 50'000; ++i) BBX_INFO("n {}", logged++);
  EXPECT_FALSE(blackbox::flush());  // a probe that fails again: still open, still one trip
  EXPECT_EQ(blackbox::stats().breaker_trips, 1u);

  // Space returns: the next probe succeeds, loss markers first, then what the ring kept.
  g_fail_errno = 0;
  for (int i = 0; i < 10; ++i) BBX_INFO("n {}", logged++);
  ASSERT_TRUE(blackbox::flush());
  s = blackbox::stats();
  EXPECT_FALSE(s.breaker_open);
  EXPECT_EQ(s.breaker_trips, 1u);

  std::string error;
  auto reader = ArchiveReader::open(dir, &error);
  ASSERT_TRUE(reader) << error;
  std::uint64_t archived = 0, next = 0;
  bool in_order = true;
  reader->poll([&](const Record& r) {
    const auto n = std::get<std::uint64_t>(r.fields.at(0).value);
    in_order = in_order && n >= next && r.sequence == n;
    next = n + 1;
    ++archived;
  });
  EXPECT_TRUE(in_order);
  EXPECT_TRUE(reader->damage().empty());
  // Exact: every record logged is either in the archive or in a loss marker.
  EXPECT_EQ(archived + reader->lost_records(), logged);
  EXPECT_GT(reader->lost_records(), 100'000u);  // the ring holds about a thousand
  EXPECT_EQ(archived, s.records_archived);
  EXPECT_EQ(reader->lost_records(), s.lost_disk_error + s.lost_overwritten);
  bool disk_cause = false;
  for (const auto& loss : reader->losses()) {
    disk_cause = disk_cause || loss.cause == LossCause::disk_error;
  }
  EXPECT_TRUE(disk_cause);
  // The first 1,000 and the last 10 records are there.
  EXPECT_EQ(next, logged);
  // The telemetry in the ring file counts the same, by cause.
  const auto t = blackbox::read_telemetry(blackbox::ring_path(), &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->lost_disk_error, s.lost_disk_error);
  EXPECT_EQ(t->lost_overwritten, s.lost_overwritten);
  // (Records read while the disk failed are lost too: archived + lost, not read + lost.)
  EXPECT_EQ(t->records_archived + t->lost_overwritten + t->lost_disk_error, logged);
  EXPECT_EQ(t->records_archived, archived);
  EXPECT_EQ(t->breaker_trips, 1u);
  EXPECT_FALSE(t->breaker_open);
  EXPECT_EQ(t->write_errors, s.write_errors);
  EXPECT_EQ(t->last_errno, GetParam());
  // The operator was told, once when it tripped and once when it closed, with the cost.
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("blackbox: cannot write "), std::string::npos) << said;
  EXPECT_NE(said.find(std::strerror(GetParam())), std::string::npos) << said;
  EXPECT_NE(said.find("archiving paused"), std::string::npos) << said;
  EXPECT_NE(said.find("blackbox: archive writes work again; " + std::to_string(s.lost_disk_error) +
                      " records could not be kept"),
            std::string::npos)
      << said;
}

INSTANTIATE_TEST_SUITE_P(Errno, ArchiveBreaker, ::testing::Values(ENOSPC, EDQUOT, EIO, EROFS),
                         [](const auto& param_info) {
                           switch (param_info.param) {
                             case ENOSPC:
                               return std::string("ENOSPC");
                             case EDQUOT:
                               return std::string("EDQUOT");
                             case EIO:
                               return std::string("EIO");
                             default:
                               return std::string("EROFS");
                           }
                         });

TEST(Breaker, BacksOffExponentiallyUpToTheCapAndClosesOnSuccess) {
  using blackbox::archive::Breaker;
  Breaker b;
  EXPECT_TRUE(b.may_write(0));
  b.failed(1000);
  EXPECT_TRUE(b.open);
  EXPECT_EQ(b.trips, 1u);
  EXPECT_FALSE(b.may_write(1000));
  EXPECT_FALSE(b.may_write(1000 + Breaker::kFirstBackoffNs - 1));
  EXPECT_TRUE(b.may_write(1000 + Breaker::kFirstBackoffNs));
  std::int64_t now = 1000, expected = Breaker::kFirstBackoffNs;
  for (int i = 0; i < 20; ++i) {
    now += b.backoff_ns;
    b.failed(now);
    expected = std::min(expected * 2, Breaker::kMaxBackoffNs);
    EXPECT_EQ(b.backoff_ns, expected);
    EXPECT_EQ(b.next_probe_ns, now + expected);
  }
  EXPECT_EQ(b.backoff_ns, Breaker::kMaxBackoffNs);
  EXPECT_EQ(b.trips, 1u);  // one trip, many failed probes
  b.succeeded();
  EXPECT_FALSE(b.open);
  EXPECT_TRUE(b.may_write(now));
  b.failed(now);
  EXPECT_EQ(b.trips, 2u);
  EXPECT_EQ(b.backoff_ns, Breaker::kFirstBackoffNs);
}

TEST(ArchiveDirectory, UnwritableDirectoryTripsTheBreakerNotTheApplication) {
  // A path under a regular file can never be created.
  const std::string file = blackbox::test::make_temp_dir("x") + "/plain";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  install_disk(file + "/archive", 64u << 10);
  for (int i = 0; i < 10'000; ++i) BBX_INFO("n {}", i);
  EXPECT_FALSE(blackbox::flush());
  const blackbox::Stats s = blackbox::stats();
  EXPECT_TRUE(s.breaker_open);
  EXPECT_EQ(s.last_write_errno, ENOTDIR);
  EXPECT_EQ(blackbox::archive_path(), "");
}

// While the breaker is open, draining cannot help: a ring filling up must not wake the
// flusher at every block claim (it once made 24,000 futex wakes in 4 s); the flusher probes
// on its own schedule. Once the disk works again, filling rings wake it as before.
TEST(ArchiveBreakerWakes, AFillingRingDoesNotWakeTheFlusherWhileTheBreakerIsOpen) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  install_disk(dir, 64u << 10);
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 1000; ++i) BBX_INFO("n {}", i);
  ASSERT_TRUE(blackbox::flush());
  g_fail_errno = ENOSPC;
  BBX_INFO("the write that fails");
  EXPECT_FALSE(blackbox::flush());
  ASSERT_TRUE(blackbox::stats().breaker_open);
  const std::uint64_t before = blackbox::ring::fill_wakes_sent();
  // About 750 block claims, each with the ring more than a quarter unread.
  for (int i = 0; i < 100'000; ++i) BBX_INFO("n {}", i);
  EXPECT_EQ(blackbox::ring::fill_wakes_sent() - before, 0u);

  g_fail_errno = 0;
  ASSERT_TRUE(blackbox::flush());
  const std::uint64_t closed = blackbox::ring::fill_wakes_sent();
  for (int i = 0; i < 100'000; ++i) BBX_INFO("n {}", i);
  EXPECT_GT(blackbox::ring::fill_wakes_sent() - closed, 0u);
  (void)::testing::internal::GetCapturedStderr();
}

// The breaker's backoff runs on CLOCK_MONOTONIC: a wall clock stepped back an hour (NTP, an
// operator) must not stop the probes for an hour. No flush() here: the flusher must probe on
// its own schedule (50 ms after the failure), so the test waits for that outcome, up to a
// deadline far beyond it.
TEST(ArchiveBreakerWakes, AWallClockStepBackDoesNotStopTheProbes) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  install_disk(dir, 64u << 10);
  ::testing::internal::CaptureStderr();
  BBX_INFO("before");
  ASSERT_TRUE(blackbox::flush());
  g_fail_errno = ENOSPC;
  BBX_INFO("the write that fails");
  EXPECT_FALSE(blackbox::flush());
  ASSERT_TRUE(blackbox::stats().breaker_open);
  blackbox::sys::step_realtime_for_testing(-3600'000'000'000);
  g_fail_errno = 0;
  const std::int64_t deadline = blackbox::sys::monotonic_ns() + 30'000'000'000;
  while (blackbox::stats().breaker_open && blackbox::sys::monotonic_ns() < deadline) {
    usleep(5000);
  }
  EXPECT_FALSE(blackbox::stats().breaker_open) << "no probe within 30 s of a 50 ms backoff";
  (void)::testing::internal::GetCapturedStderr();
}

// Durability: flush() alone leaves the archive in the page cache; FlushTo::disk, rotation
// and stop fdatasync() it, and a write-back error there (EIO) is a failed write: counted,
// said, the breaker opens. Nothing called fsync before.
std::atomic<int> g_sync_errno{0};
std::atomic<int> g_syncs{0};

int counting_sync(int fd) {
  ++g_syncs;
  if (const int err = g_sync_errno.load(); err != 0) {
    errno = err;
    return -1;
  }
  return ::fdatasync(fd);
}

TEST(ArchiveDurability, FlushToDiskSyncsAndAWriteBackErrorIsAFailedWrite) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  blackbox::sys::calls().fdatasync = counting_sync;
  install_disk(dir, 64u << 10);
  ::testing::internal::CaptureStderr();
  BBX_INFO("in the page cache");
  ASSERT_TRUE(blackbox::flush());
  EXPECT_EQ(g_syncs.load(), 0);
  BBX_INFO("on disk");
  ASSERT_TRUE(blackbox::flush(blackbox::FlushTo::disk));
  EXPECT_EQ(g_syncs.load(), 1);

  g_sync_errno = EIO;
  BBX_INFO("written back with an error");
  EXPECT_FALSE(blackbox::flush(blackbox::FlushTo::disk));
  blackbox::Stats s = blackbox::stats();
  EXPECT_GE(s.write_errors, 1u);
  EXPECT_EQ(s.last_write_errno, EIO);
  EXPECT_TRUE(s.breaker_open);
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("cannot sync " + dir + "/"), std::string::npos) << said;

  g_sync_errno = 0;
  BBX_INFO("the next write is the probe");
  EXPECT_TRUE(blackbox::flush(blackbox::FlushTo::disk));
  EXPECT_FALSE(blackbox::stats().breaker_open);
}

TEST(ArchiveDurability, RotatedAndFinalFilesAreSynced) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  blackbox::sys::calls().fdatasync = counting_sync;
  blackbox::sys::calls().write = failing_write;
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "rotate";
  c.archive_dir = dir;
  c.rotate_bytes = 64u << 10;
  ASSERT_TRUE(blackbox::init(c).ok());
  // Varied strings, so the chunks are big enough to rotate through several files.
  for (int i = 0; i < 200'000; ++i) {
    BBX_INFO("record {} {}", i, std::to_string(i * 7919u * 2654435761u));
    if (i % 20'000 == 0) {
      ASSERT_TRUE(blackbox::flush());  // a chunk each, nothing overwritten
    }
  }
  ASSERT_TRUE(blackbox::flush());
  const std::uint64_t files = blackbox::stats().archive_files_created;
  ASSERT_GE(files, 2u);
  EXPECT_EQ(static_cast<std::uint64_t>(g_syncs.load()), files - 1);  // each closed one
  blackbox::shutdown();
  EXPECT_EQ(static_cast<std::uint64_t>(g_syncs.load()), files);  // and the last
}

}  // namespace

namespace {

// A chunk's age counts from the pass that put its first record in: a pass that is not due
// (here every pass but the flush's, the interval being a minute) leaves the records it
// drained in the encoder, however long ago the last write was. The flusher thread's first
// pass once wrote what it found at once (CI saw 13 chunks where 12 flushes were made).
TEST(FlusherChunks, APassThatIsNotDueWritesNothingByItself) {
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "early_pass";
  c.archive_dir = "";  // no flusher of the logger's own: this test runs one on its ring
  c.console = "off";
  ASSERT_TRUE(blackbox::init(c).ok());
  blackbox::ring::RingMemory* ring = blackbox::ring::own_ring();
  ASSERT_NE(ring, nullptr);
  BBX_INFO("before the first pass");
  const std::string dir = blackbox::test::make_temp_dir("early");
  blackbox::archive::FlusherSettings settings;
  settings.files.dir = dir;
  settings.files.app = "early_pass";
  settings.interval_ns = 60'000'000'000;
  // A tick after every pass (tick_ns 1): the first one says the first pass is over.
  std::promise<void> first_pass_done;
  std::atomic<bool> said{false};
  settings.tick_ns = 1;
  settings.each_tick = [&](bool) {
    if (!said.exchange(true)) first_pass_done.set_value();
  };
  blackbox::archive::Flusher flusher(*ring, settings);
  flusher.start();
  first_pass_done.get_future().wait();
  BBX_INFO("after the first pass");
  ASSERT_TRUE(flusher.flush());
  flusher.stop();
  auto reader = ArchiveReader::open(dir);
  ASSERT_NE(reader, nullptr);
  std::set<std::uint64_t> chunks;
  std::vector<std::string> messages;
  reader->poll([&](const Record& r) {
    chunks.insert(r.position);
    messages.push_back(r.message);
  });
  EXPECT_EQ(messages, (std::vector<std::string>{"before the first pass", "after the first pass"}));
  EXPECT_EQ(chunks.size(), 1u);  // both in the flush's chunk
  blackbox::shutdown();
}

// A rotated file is synced in the background (the drain does not wait for the disk); a
// write-back error there is still a failed write: the flush() that waits for it says so,
// counted, and the breaker opens.
TEST(ArchiveDurability, AFailedBackgroundSyncOfARotatedFileIsAFailedWrite) {
  const std::string dir = blackbox::test::make_temp_dir("archive");
  blackbox::sys::calls().fdatasync = counting_sync;
  blackbox::sys::calls().write = failing_write;
  g_sync_errno = EIO;
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "rotate";
  c.archive_dir = dir;
  c.rotate_bytes = 64u << 10;
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(blackbox::init(c).ok());
  bool failed = false;
  for (int i = 0; i < 400'000 && blackbox::stats().archive_files_created < 2; ++i) {
    BBX_INFO("record {} {}", i, std::to_string(i * 7919u * 2654435761u));
    if (i % 20'000 == 0) failed |= !blackbox::flush();
  }
  failed |= !blackbox::flush();
  ASSERT_GE(blackbox::stats().archive_files_created, 2u);
  EXPECT_TRUE(failed);
  const blackbox::Stats s = blackbox::stats();
  EXPECT_GE(s.write_errors, 1u);
  EXPECT_EQ(s.last_write_errno, EIO);
  g_sync_errno = 0;
  blackbox::shutdown();
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("cannot sync " + dir + "/"), std::string::npos) << said;
}

}  // namespace
