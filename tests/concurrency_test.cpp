// 2-8 threads hammer their rings while another thread and another process read them. Each
// writer logs "w {} i {}" with i = 0, 1, 2, ... in a slot of its own, so i must equal the
// record's sequence number: no record torn, duplicated or reordered. Every gap must be
// reported as lost, so that read + lost == written, exactly, for both readers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "support/test_env.hpp"

namespace {

// ThreadSanitizer is ~10x slower.
constexpr std::uint64_t kPerWriter = blackbox::test::kThreadSanitizer ? 300'000 : 3'000'000;

struct ExternalReader {
  pid_t pid = -1;
  int to_child = -1;    // closing it tells the reader the writers are done
  int from_child = -1;  // its one-line report
};

ExternalReader spawn_reader(const std::string& ring, std::uint64_t first_writer,
                            std::uint64_t writers) {
  int in[2], out[2];
  EXPECT_EQ(pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  ExternalReader r;
  r.pid = fork();
  if (r.pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    const std::string helper = blackbox::test::helper_path();
    const std::string lo = std::to_string(first_writer);
    const std::string hi = std::to_string(first_writer + writers);
    execl(helper.c_str(), helper.c_str(), "read", ring.c_str(), lo.c_str(), hi.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  r.to_child = in[1];
  r.from_child = out[0];
  return r;
}

std::string finish_reader(ExternalReader& r, int& status) {
  close(r.to_child);
  std::string report;
  char buf[256];
  ssize_t n;
  while ((n = read(r.from_child, buf, sizeof buf)) > 0)
    report.append(buf, static_cast<std::size_t>(n));
  close(r.from_child);
  waitpid(r.pid, &status, 0);
  return report;
}

void hammer(unsigned writers) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "stress";
  config.ring_bytes = 64 * 1024;  // small: writers lap the readers, so losses happen
  config.block_bytes = 4096;
  config.max_string_bytes = 1024;
  config.max_threads = 64;  // fresh slots for every writer of every test
  const auto init = blackbox::init(config);
  ASSERT_TRUE(init.ok()) << init.error;
  BBX_LOG("setup", blackbox::Level::info, "started");  // creates the ring file
  const std::string ring = blackbox::ring_path();
  ASSERT_FALSE(ring.empty());

  // Writer numbers are unique per test, so the tests also pass when run in one process.
  const std::uint64_t first_writer = writers * 1000;
  ExternalReader external = spawn_reader(ring, first_writer, writers);
  std::atomic<bool> done{false};
  std::map<std::uint64_t, std::uint64_t> read_count, last;
  std::map<std::uint32_t, std::uint32_t> slot_writer;
  std::uint64_t bad = 0;
  std::uint64_t lost = 0;
  std::uint64_t corrupt = 0;
  std::thread reader([&] {
    auto ring_reader = blackbox::RingReader::open_self();
    ASSERT_TRUE(ring_reader);
    auto check = [&](const blackbox::Record& r) {
      if (r.tag != "stress") return;
      const auto w = std::get<std::uint64_t>(r.fields.at(0).value);
      const auto i = std::get<std::uint64_t>(r.fields.at(1).value);
      if (w < first_writer || w >= first_writer + writers) return;
      if (i != r.sequence) ++bad;
      if (read_count[w] > 0 && i <= last[w]) ++bad;
      if (r.message != "w " + std::to_string(w) + " i " + std::to_string(i)) ++bad;
      slot_writer[r.slot] = static_cast<std::uint32_t>(w);
      last[w] = i;
      ++read_count[w];
    };
    // done is read with acquire: pairs with the release below, so the final poll sees
    // every record the writers committed.
    while (!done.load(std::memory_order_acquire)) ring_reader->poll(check);
    ring_reader->poll(check);
    for (const auto& l : ring_reader->losses()) {
      if (slot_writer.count(l.slot) != 0) lost += l.records;
      corrupt += l.corrupt_bytes;
    }
  });

  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> holding{0};
  for (std::uint64_t w = first_writer; w < first_writer + writers; ++w) {
    threads.emplace_back([w, writers, &holding] {
      for (std::uint64_t i = 0; i < kPerWriter; ++i) {
        BBX_LOG("stress", blackbox::Level::info, "w {} i {}", w, i);
        // Every writer holds its slot before any goes on: one that finished and exited
        // first would hand its slot (and its sequence numbers) to a late starter.
        if (i == 0) {
          holding.fetch_add(1);
          while (holding.load() < writers) std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  done.store(true, std::memory_order_release);
  reader.join();

  EXPECT_EQ(bad, 0u);
  // Losses in a healthy ring come from lapping only: a copy the writer overwrote must be
  // discarded by the re-check, never parsed and reported as damage.
  EXPECT_EQ(corrupt, 0u);
  EXPECT_EQ(read_count.size(), writers);
  std::uint64_t read_total = 0;
  for (const auto& [w, n] : read_count) read_total += n;
  EXPECT_EQ(read_total + lost, writers * kPerWriter) << "read " << read_total << " lost " << lost;
  for (const auto& [w, i] : last) EXPECT_EQ(i, kPerWriter - 1) << "writer " << w;

  int status = 0;
  const std::string report = finish_reader(external, status);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << report;
  unsigned long long records = 0, external_lost = 0, external_bad = 0, seen_writers = 0,
                     external_corrupt = 0;
  ASSERT_EQ(std::sscanf(report.c_str(), "records=%llu lost=%llu bad=%llu writers=%llu corrupt=%llu",
                        &records, &external_lost, &external_bad, &seen_writers, &external_corrupt),
            5)
      << report;
  EXPECT_EQ(external_corrupt, 0u) << report;
  EXPECT_EQ(external_bad, 0u) << report;
  EXPECT_EQ(seen_writers, writers) << report;
  // The external reader also sees the "setup" record's slot (the main thread): its loss
  // there is 0, so the same exact accounting holds.
  EXPECT_EQ(records + external_lost, writers * kPerWriter) << report;
  std::printf("in-process reader: read %llu lost %llu; external: %s",
              static_cast<unsigned long long>(read_total), static_cast<unsigned long long>(lost),
              report.c_str());
}

TEST(ConcurrencyTest, TwoWritersOneReaderThreadOneReaderProcess) { hammer(2); }
TEST(ConcurrencyTest, FourWriters) { hammer(4); }
TEST(ConcurrencyTest, EightWriters) { hammer(8); }

}  // namespace
