// Dumps taken while threads keep logging: blackbox::dump() and the dump signal. A dump is a
// ring file; every record a thread had acknowledged before the dump began is in it (when
// the rings do not lap), and what it holds of lapping rings is a consistent window: each
// thread's records in order, every gap counted as lost.
#include "crash/dump.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/reader.hpp"
#include "support/test_env.hpp"

namespace {

constexpr int kThreads = 2;

// Threads that log "thread {t} record {i}" and publish how many calls have returned.
class Loggers {
 public:
  explicit Loggers(int limit) {
    for (int t = 0; t < kThreads; ++t) {
      threads_.emplace_back([this, t, limit] {
        for (int i = 0; i < limit && !stop_.load(); ++i) {
          BBX_INFO("thread {t} record {i}", t, i);
          acked_[t].store(i + 1, std::memory_order_release);
          // Every thread holds its slot before any goes on: one that finished and exited
          // first would hand its slot (and sequence) to a late starter.
          if (i == 0) {
            started_.fetch_add(1);
            while (started_.load() < kThreads && !stop_.load()) std::this_thread::yield();
          }
        }
      });
    }
  }
  ~Loggers() { join(); }
  void join() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  // Spins until every thread has logged `n` records (no sleeping: the threads make
  // progress on their own).
  void wait_for(int n) const {
    for (int t = 0; t < kThreads; ++t) {
      while (acked_[t].load(std::memory_order_acquire) < n) std::this_thread::yield();
    }
  }
  [[nodiscard]] std::vector<int> acked() const {
    std::vector<int> out;
    for (int t = 0; t < kThreads; ++t) out.push_back(acked_[t].load(std::memory_order_acquire));
    return out;
  }

 private:
  std::atomic<int> acked_[kThreads] = {};
  std::atomic<bool> stop_{false};
  std::atomic<int> started_{0};
  std::vector<std::thread> threads_;
};

struct DumpContents {
  std::map<int, std::vector<int>> records;  // thread -> record numbers, in ring order
  std::map<std::uint32_t, int> thread_of_tid;
  std::map<int, std::uint64_t> lost;  // thread -> records counted lost
  bool torn = false;                  // a record whose message does not match its fields
  std::map<int, std::uint64_t> base;  // thread -> sequence number of its record 0
};

DumpContents read_dump(const std::string& path) {
  DumpContents d;
  std::string error;
  auto reader = blackbox::RingReader::open(path, &error);
  EXPECT_TRUE(reader) << error;
  if (!reader) return d;
  reader->poll([&](const blackbox::Record& r) {
    if (r.message_template != "thread {t} record {i}") return;
    const int t = static_cast<int>(std::get<std::int64_t>(r.fields.at(0).value));
    const int i = static_cast<int>(std::get<std::int64_t>(r.fields.at(1).value));
    // Each thread has a slot of its own from its first record on: record i has sequence
    // base + i (base: where the slot's sequence stood when the thread got it; a slot an
    // exited thread gave back continues its sequence). Bytes of a later lap read under an
    // earlier lap's block header would break that.
    const auto [base, fresh] = d.base.try_emplace(t, r.sequence - static_cast<std::uint64_t>(i));
    d.torn = d.torn ||
             r.message != "thread " + std::to_string(t) + " record " + std::to_string(i) ||
             r.sequence != base->second + static_cast<std::uint64_t>(i);
    d.records[t].push_back(i);
    d.thread_of_tid[r.tid] = t;
  });
  for (const blackbox::Loss& loss : reader->losses()) {
    if (const auto it = d.thread_of_tid.find(loss.tid); it != d.thread_of_tid.end()) {
      d.lost[it->second] += loss.records;
    }
  }
  return d;
}

// Every record from 0 to the last one, in order: those acknowledged before the dump began
// (`before`) and none that had not been logged when it ended (`after`). A thread may have
// one record more than `after` says: its record is in the ring once the log call commits
// it, but the count is published only after the call returns, and the dump can end between
// the two.
void expect_prefix(const DumpContents& d, const std::vector<int>& before,
                   const std::vector<int>& after) {
  EXPECT_FALSE(d.torn);
  for (int t = 0; t < kThreads; ++t) {
    const auto it = d.records.find(t);
    ASSERT_NE(it, d.records.end()) << "thread " << t;
    const std::vector<int>& r = it->second;
    for (std::size_t i = 0; i < r.size(); ++i) ASSERT_EQ(r[i], static_cast<int>(i));
    EXPECT_GE(static_cast<int>(r.size()), before[t]);
    EXPECT_LE(static_cast<int>(r.size()), after[t] + 1);
  }
}

blackbox::Config config_for(const std::string& name) {
  blackbox::Config config = blackbox::Config::from_env();
  config.dir = blackbox::test::make_temp_dir(name);
  config.archive_dir = config.dir + "/archive";
  return config;
}

std::vector<std::string> files_ending(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str()); d != nullptr) {
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        out.push_back(dir + "/" + name);
      }
    }
    closedir(d);
  }
  return out;
}

TEST(Dump, HoldsEveryRecordAcknowledgedBeforeItWhileThreadsKeepLogging) {
  ASSERT_TRUE(blackbox::init(config_for("dump")).ok());
  Loggers loggers(6000);  // 6000 records of ~40 bytes: the 1 MiB rings do not lap
  loggers.wait_for(1000);
  const std::vector<int> before = loggers.acked();
  const std::string path = blackbox::test::make_temp_dir("dumps") + "/snapshot.bbd";
  ASSERT_EQ(blackbox::dump(path), "");
  const std::vector<int> after = loggers.acked();
  loggers.join();
  const DumpContents d = read_dump(path);
  expect_prefix(d, before, after);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(d.lost.count(t), 0u);
}

// Whatever a dump holds of a thread is in order, and every record it does not hold, before
// or between those it holds, is counted lost: a piece of a ring that the writer overtook
// while it was copied is dropped, never shown torn. Rings of 64 KiB that the writers lap
// many times; a writer that laps faster than the copy runs may leave little or nothing of
// its ring, which is then all counted.
void expect_consistent(const DumpContents& d, const std::string& what) {
  EXPECT_FALSE(d.torn) << what;
  for (const auto& [t, r] : d.records) {
    for (std::size_t i = 1; i < r.size(); ++i) ASSERT_LT(r[i - 1], r[i]) << what;
    const auto lost = d.lost.count(t) != 0 ? d.lost.at(t) : 0;
    EXPECT_EQ(static_cast<std::uint64_t>(r.back()) + 1 - r.size(), lost) << what;
  }
}

TEST(Dump, OfLappingRingsIsAConsistentWindow) {
  blackbox::Config config = config_for("dump-lapping");
  config.ring_bytes = 64u << 10;
  config.block_bytes = 4096;
  config.max_string_bytes = 1024;
  config.archive_dir.clear();
  const blackbox::InitResult started = blackbox::init(config);
  ASSERT_TRUE(started.ok()) << started.error;
  const std::string dir = blackbox::test::make_temp_dir("dumps");
  {
    Loggers loggers(200'000);
    for (int round = 0; round < 20; ++round) {
      loggers.wait_for(std::min(2000 * (round + 1), 200'000));  // laps between dumps
      const std::string path = dir + "/lap" + std::to_string(round) + ".bbd";
      ASSERT_EQ(blackbox::dump(path), "");
      expect_consistent(read_dump(path), "round " + std::to_string(round));
    }
  }
  // Once the writers are done: the newest ring's worth of each thread, the rest counted.
  ASSERT_EQ(blackbox::dump(dir + "/done.bbd"), "");
  const DumpContents d = read_dump(dir + "/done.bbd");
  expect_consistent(d, "after the writers stopped");
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(d.records.count(t), 1u) << "thread " << t;
    EXPECT_EQ(d.records.at(t).back(), 200'000 - 1);
    const std::vector<int>& r = d.records.at(t);
    for (std::size_t i = 1; i < r.size(); ++i) ASSERT_EQ(r[i], r[i - 1] + 1);  // nothing torn
    EXPECT_GT(d.records.at(t).size(), 1000u);  // most of 64 KiB of ~40-byte records
  }
}

TEST(DumpSignal, TheFlusherWritesADumpWhileThreadsKeepLogging) {
  blackbox::Config config = config_for("dump-signal");
  config.dump_signal = SIGUSR2;
  config.crash_dir = config.dir + "/crashes";
  ASSERT_TRUE(blackbox::init(config).ok());
  Loggers loggers(6000);
  loggers.wait_for(1000);
  const std::vector<int> before = loggers.acked();
  ASSERT_EQ(raise(SIGUSR2), 0);    // handled before raise() returns: the request is noted
  ASSERT_TRUE(blackbox::flush());  // the flusher takes the request before this pass
  const std::vector<int> after = loggers.acked();
  EXPECT_EQ(blackbox::stats().dumps_written, 1u);
  const auto dumps = files_ending(config.crash_dir, ".bbd");
  ASSERT_EQ(dumps.size(), 1u);
  loggers.join();
  const DumpContents d = read_dump(dumps[0]);
  expect_prefix(d, before, after);
}

// The last line behind Config's validation: whoever asks, the dump handler is never put on
// a signal the crash handler needs; the disposition stays what it was.
TEST(DumpSignal, IsNeverInstalledOnACrashSignal) {
  for (const int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM, SIGKILL, 0, NSIG}) {
    SCOPED_TRACE(sig);
    struct sigaction before {};
    if (sig > 0 && sig < NSIG) {
      ASSERT_EQ(sigaction(sig, nullptr, &before), 0);
    }
    const std::string error = blackbox::crash::install_dump_signal(sig);
    EXPECT_NE(error.find("no dump handler installed"), std::string::npos) << error;
    if (sig > 0 && sig < NSIG && sig != SIGKILL) {
      struct sigaction after {};
      ASSERT_EQ(sigaction(sig, nullptr, &after), 0);
      EXPECT_EQ(after.sa_handler, before.sa_handler);
    }
  }
}

// blackbox::dump(path) replaces a file of our own (it is the program's path), but never
// blocks on a FIFO, follows a link, fills another user's file or overwrites the ring file.
TEST(Dump, APathCannotBlockLeakOrDestroy) {
  const blackbox::Config config = config_for("dump-paths");
  ASSERT_TRUE(blackbox::init(config).ok());
  BBX_INFO("one record");
  const std::string dir = blackbox::test::make_temp_dir("dumps");
  const std::string own = dir + "/own.bbd";
  ASSERT_EQ(blackbox::dump(own), "");
  ASSERT_EQ(blackbox::dump(own), "");  // replaced
  struct stat st {};
  ASSERT_EQ(stat(own.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string fifo = dir + "/fifo.bbd";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(blackbox::dump(fifo).find("is not a regular file"), std::string::npos);
  const std::string link = dir + "/link.bbd";
  ASSERT_EQ(symlink(own.c_str(), link.c_str()), 0);
  EXPECT_NE(blackbox::dump(link).find("is a symbolic link"), std::string::npos);
  const std::string ring = blackbox::ring_path();
  ASSERT_EQ(stat(ring.c_str(), &st), 0);
  const off_t ring_size = st.st_size;
  EXPECT_NE(blackbox::dump(ring).find("never goes into the ring or archive directory"),
            std::string::npos);
  ASSERT_EQ(stat(ring.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, ring_size);
  const std::string hard = dir + "/hard.bbd";
  ASSERT_EQ(::link(own.c_str(), hard.c_str()), 0);
  EXPECT_NE(blackbox::dump(hard).find("has other links"), std::string::npos);
  if (geteuid() == 0) {
    const std::string theirs = dir + "/theirs.bbd";
    const int fd = open(theirs.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(fchown(fd, 65534, 65534), 0);
    close(fd);
    EXPECT_NE(blackbox::dump(theirs).find("belongs to another user"), std::string::npos);
    ASSERT_EQ(stat(theirs.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 0);
  }
}

}  // namespace
