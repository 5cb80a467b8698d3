// The failure budget (Config::loss_budget): the process counts its records and losses by
// cause each flusher pass, keeps the last minute on the rate clock (the syscall seam's
// rate_clock_ns, a test clock here), says once, in a warning record, that the minute's
// losses went over the budget, and publishes the numbers that `logcat stats` and `logcat
// top` show: each cause's count and share, the run and the last minute, the budget.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/control.hpp"
#include "blackbox/reader.hpp"
#include "core/rate_limit.hpp"
#include "support/test_env.hpp"
#include "sys/sys.hpp"

namespace {

std::atomic<std::int64_t> g_clock_ns{5'000'000'000'000};
std::int64_t test_clock() { return g_clock_ns.load(); }
void advance_s(std::int64_t s) { g_clock_ns.fetch_add(s * 1'000'000'000); }

void normal(int i) { BBX_LOG("work", blackbox::Level::info, "work {}", i); }
void flood(int i) { BBX_LOG("flood", blackbox::Level::info, "flood {}", i); }

blackbox::test::RunResult logcat(const std::vector<std::string>& args) {
  return blackbox::test::run_program(
      BBX_LOGCAT, args,
      {"BBX_DIR=" + blackbox::Config::from_env().dir, "BBX_ARCHIVE_DIR=off", "NO_COLOR=1"});
}

std::vector<blackbox::Record> warnings() {
  std::vector<blackbox::Record> out;
  for (auto& r : blackbox::test::read_own_ring()) {
    if (r.tag == "blackbox" && r.message_template.starts_with("loss budget exceeded")) {
      out.push_back(std::move(r));
    }
  }
  return out;
}

TEST(LossBudget, OverTheBudgetIsSaidOnceAndTheLastMinuteMovesOn) {
  blackbox::sys::calls().rate_clock_ns = test_clock;
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "budget";
  c.archive_dir = blackbox::test::make_temp_dir("budget-archive");
  c.ring_bytes = 16u << 20;     // no early pass: only flush() makes one
  c.flush_interval_ms = 60000;  // (nor the interval)
  c.console = "off";
  c.rate_limits = "flood=10/h";
  c.loss_budget = 0.001;
  ASSERT_TRUE(blackbox::init(c).ok());

  // 9,000 records kept and 1,000 calls of a site limited to 10: 990 suppressed, 9.9 % of the
  // 10,000 records, over the 0.1 % budget.
  for (int i = 0; i < 9000; ++i) normal(i);
  for (int i = 0; i < 1000; ++i) flood(i);
  ASSERT_TRUE(blackbox::flush());
  auto said = warnings();
  ASSERT_EQ(said.size(), 1u);
  EXPECT_EQ(said[0].level, blackbox::Level::warn);
  EXPECT_EQ(said[0].message,
            "loss budget exceeded: 990 of 10000 records lost in the last 0.0 s (9.900 %, over "
            "the budget of 0.100 %): 990 rate limited");
  std::string error;
  auto t = blackbox::read_telemetry(blackbox::ring_path(), &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->loss_budget, 0.001);
  EXPECT_NE(t->budget_exceeded_ns, 0);
  EXPECT_EQ(t->minute_records, 10000u);
  EXPECT_EQ(t->minute_lost, 990u);
  EXPECT_EQ(t->lost_rate_limited, 990u);
  EXPECT_EQ(t->records(), 10001u);  // and the warning itself
  EXPECT_EQ(t->minute_by_cause, (std::array<std::uint64_t, 8>{0, 0, 0, 0, 0, 0, 990, 0}));

  // logcat reads the same: each cause that cost something with its share, the run, the
  // minute, the budget.
  const std::string pid = std::to_string(getpid());
  const auto stats = logcat({"stats", "-p", pid});
  ASSERT_EQ(stats.status, 0) << stats.out;
  EXPECT_NE(stats.out.find("    last minute  990 of 10000 records lost (9.900 %)\n"),
            std::string::npos)
      << stats.out;
  EXPECT_NE(
      stats.out.find("      rate limited          990     9.899 %          990     9.900 %\n"),
      std::string::npos)
      << stats.out;
  EXPECT_NE(stats.out.find("    budget       0.100 % of records: OVER in the last minute; first"),
            std::string::npos)
      << stats.out;
  const auto top = logcat({"top", "-n", "1", "-o", "json", "-d", "0.1"});
  ASSERT_EQ(top.status, 0) << top.out;
  EXPECT_NE(top.out.find("\"budget\":{\"budget\":0.001,\"over\":true,"), std::string::npos)
      << top.out;
  EXPECT_NE(top.out.find("\"minute\":{\"records\":10000,\"lost\":990,\"share\":0.099,"
                         "\"by_cause\":{\"overwritten\":0,\"no_slot\":0,\"disk_error\":0,"
                         "\"site_table_full\":0,\"after_exit\":0,\"corrupt\":0,"
                         "\"rate_limited\":990,\"console_not_shown\":0}"),
            std::string::npos)
      << top.out;

  // A rotation archives the telemetry in a frame: the budget's words and the minute by cause
  // come back from the archive as the ring shows them.
  blackbox::ControlRequest rotate;
  rotate.kind = blackbox::ControlRequest::Kind::rotate;
  blackbox::ControlReply reply;
  ASSERT_EQ(blackbox::send_control(blackbox::ring_path(), rotate, reply), "");
  ASSERT_TRUE(reply.applied) << reply.result;
  auto archive = blackbox::ArchiveReader::open(c.archive_dir, &error);
  ASSERT_TRUE(archive) << error;
  archive->scan();
  const auto files = archive->files();
  ASSERT_FALSE(files.empty());
  ASSERT_TRUE(files.front().telemetry);
  const blackbox::Telemetry& framed = *files.front().telemetry;
  EXPECT_EQ(framed.loss_budget, 0.001);
  EXPECT_EQ(framed.budget_exceeded_ns, t->budget_exceeded_ns);
  EXPECT_EQ(framed.minute_records, 10001u);  // the pass before the rotation counted the warning
  EXPECT_EQ(framed.minute_lost, 990u);
  EXPECT_EQ(framed.minute_by_cause, t->minute_by_cause);
  EXPECT_EQ(framed.lost_rate_limited, 990u);

  // More losses: still said once.
  for (int i = 0; i < 1000; ++i) flood(i);
  ASSERT_TRUE(blackbox::flush());
  EXPECT_EQ(warnings().size(), 1u);

  // Two seconds on, a pass keeps a count; 61 s after that, the minute holds only what came
  // since: 100 records, nothing lost.
  advance_s(2);
  ASSERT_TRUE(blackbox::flush());
  advance_s(61);
  for (int i = 0; i < 100; ++i) normal(i);
  ASSERT_TRUE(blackbox::flush());
  t = blackbox::read_telemetry(blackbox::ring_path(), &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->minute_records, 100u);
  EXPECT_EQ(t->minute_lost, 0u);
  EXPECT_EQ(t->minute_by_cause, (std::array<std::uint64_t, 8>{}));
  EXPECT_EQ(t->lost_rate_limited, 1990u);
  EXPECT_EQ(warnings().size(), 1u);
}

TEST(LossBudget, WithinTheBudgetNothingIsSaid) {
  blackbox::sys::calls().rate_clock_ns = test_clock;
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "within";
  c.archive_dir = blackbox::test::make_temp_dir("within-archive");
  c.console = "off";
  c.rate_limits = "flood=10/h";
  c.loss_budget = 0.1;  // 10 %: 990 of 10,000 is within
  ASSERT_TRUE(blackbox::init(c).ok());
  for (int i = 0; i < 9000; ++i) normal(i);
  for (int i = 0; i < 1000; ++i) flood(i);
  ASSERT_TRUE(blackbox::flush());
  EXPECT_TRUE(warnings().empty());
  const auto t = blackbox::read_telemetry(blackbox::ring_path());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->budget_exceeded_ns, 0);
  EXPECT_EQ(t->minute_lost, 990u);
}

TEST(LossBudget, ConfiguredAsAShareOrAPercentage) {
  EXPECT_EQ(blackbox::core::parse_share("0.1%"), 0.001);
  EXPECT_EQ(blackbox::core::parse_share(" 0.002 "), 0.002);
  EXPECT_FALSE(blackbox::core::parse_share("lots"));
  EXPECT_FALSE(blackbox::core::parse_share("-1"));
  setenv("BBX_LOSS_BUDGET", "0.5%", 1);
  EXPECT_EQ(blackbox::Config::from_env().loss_budget, 0.005);
  setenv("BBX_LOSS_BUDGET", "2", 1);  // over 1: said, and the default kept
  std::vector<std::string> said;
  EXPECT_EQ(blackbox::Config::from_env(&said).loss_budget, 0.001);
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("BBX_LOSS_BUDGET"), std::string::npos);
  unsetenv("BBX_LOSS_BUDGET");
  blackbox::Config c;
  c.loss_budget = 1.5;
  ASSERT_EQ(c.validate().size(), 1u);
  EXPECT_NE(c.validate()[0].find("loss_budget"), std::string::npos);
}

}  // namespace
