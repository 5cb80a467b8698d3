// Rate limits (Config::rate_limits) and the sampled sites (BBX_*_EVERY_N, _EVERY_MS): exact
// counts of kept and suppressed records from four threads against a test clock (the
// syscall seam's rate_clock_ns), the suppression report's numbers, precedence of site, tag
// and "*" rules, changes at run time (the API and `logcat ctl`'s request), the spec parser.
#include "core/rate_limit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/control.hpp"
#include "support/test_env.hpp"
#include "sys/sys.hpp"

namespace {

std::atomic<std::int64_t> g_clock_ns{1'000'000'000'000};
std::int64_t test_clock() { return g_clock_ns.load(); }
void advance_ms(std::int64_t ms) { g_clock_ns.fetch_add(ms * 1'000'000); }

// Starts the logger on the test clock with `rates`; flusher passes only when flush() asks.
void start(const std::string& name, const std::string& rates) {
  blackbox::sys::calls().rate_clock_ns = test_clock;
  blackbox::Config c = blackbox::Config::from_env();
  c.app = name;
  c.archive_dir = blackbox::test::make_temp_dir(name + "-archive");
  c.flush_interval_ms = 60000;
  c.console = "off";
  c.rate_limits = rates;
  const blackbox::InitResult r = blackbox::init(c);
  ASSERT_TRUE(r.ok()) << r.error;
}

constexpr int kThreads = 4;
constexpr int kCalls = 1000;

constexpr int kFloodLine = __LINE__ + 2;  // flood()'s BBX_LOG
void flood(int round, int thread, int i) {
  BBX_LOG("flood", blackbox::Level::info, "round {} thread {} call {}", round, thread, i);
}

// Four threads, started together, each calling `call(thread, i)` kCalls times.
template <typename Call>
void four_threads(Call call) {
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kCalls; ++i) call(t, i);
    });
  }
  for (auto& th : threads) th.join();
}

std::map<std::string, int> count_by_template(const std::vector<blackbox::Record>& records) {
  std::map<std::string, int> n;
  for (const auto& r : records) ++n[std::string(r.message_template)];
  return n;
}

TEST(RateLimit, ExactCountsFromFourThreadsAgainstATestClock) {
  start("rate-exact", "flood=100/s,*=1000000/s");
  std::vector<std::uint64_t> suppressed_after;
  const std::int64_t advance_before[] = {0, 250, 15, 5};
  for (int round = 0; round < 4; ++round) {
    advance_ms(advance_before[round]);
    four_threads([round](int t, int i) { flood(round, t, i); });
    suppressed_after.push_back(blackbox::stats().rate_limited);
  }
  // A second after the last refill: one report of everything suppressed so far, then a
  // full bucket (100, not the 100 s worth of tokens: the burst caps it).
  advance_ms(1000);
  ASSERT_TRUE(blackbox::flush());  // the pass that reports
  four_threads([](int t, int i) { flood(4, t, i); });
  suppressed_after.push_back(blackbox::stats().rate_limited);
  ASSERT_TRUE(blackbox::flush());

  // Round 0: the full bucket, 100. Round 1: 250 ms of 100/s, 25. Round 2: 15 ms, 1.5
  // tokens: 1, and the half token is kept. Round 3: 5 ms more makes it a whole one: 1.
  std::map<int, int> kept;
  std::vector<const blackbox::Record*> reports;
  const auto records = blackbox::test::read_own_ring();
  for (const auto& r : records) {
    if (r.tag != "flood") continue;
    if (r.message_template.starts_with("round")) {
      ++kept[static_cast<int>(std::get<std::int64_t>(r.fields.at(0).value))];
    } else {
      reports.push_back(&r);
    }
  }
  EXPECT_EQ(kept, (std::map<int, int>{{0, 100}, {1, 25}, {2, 1}, {3, 1}, {4, 100}}));
  const std::uint64_t total = kThreads * kCalls;
  EXPECT_EQ(suppressed_after,
            (std::vector<std::uint64_t>{total - 100, 2 * total - 125, 3 * total - 126,
                                        4 * total - 127, 5 * total - 227}));
  EXPECT_EQ(blackbox::stats().rate_limited, 5 * total - 227);

  // The report: at the site's level and tag, its file and line, with the numbers.
  ASSERT_EQ(reports.size(), 1u);
  const blackbox::Record& report = *reports[0];
  EXPECT_EQ(report.level, blackbox::Level::info);
  EXPECT_EQ(report.line, static_cast<std::uint32_t>(kFloodLine));
  EXPECT_EQ(report.message, "suppressed 15873 records of site rate_limit_test.cpp:" +
                                std::to_string(kFloodLine) + " in the last 1.3 s");
  ASSERT_EQ(report.fields.size(), 3u);
  EXPECT_EQ(report.fields[0].name, "suppressed");

  // The telemetry, as `logcat top` and `logcat stats -p` read it from the ring file.
  std::string error;
  const auto t = blackbox::read_telemetry(blackbox::ring_path(), &error);
  ASSERT_TRUE(t.has_value()) << error;
  EXPECT_EQ(t->lost_rate_limited, 5 * total - 227);
  EXPECT_GE(t->lost(), t->lost_rate_limited);
}

void tagged_net(int i) { BBX_LOG("net", blackbox::Level::info, "net {}", i); }
constexpr int kOwnLine = __LINE__ + 1;  // own_rule()'s BBX_LOG
void own_rule(int i) { BBX_LOG("net", blackbox::Level::info, "own {}", i); }
void exempt(int i) { BBX_LOG("audit", blackbox::Level::info, "audit {}", i); }
void anything(int i) { BBX_LOG("misc", blackbox::Level::info, "misc {}", i); }
void disabled(int i) { BBX_LOG("misc", blackbox::Level::debug, "debug {}", i); }

TEST(RateLimit, ASiteRuleBeatsItsTagsAndTheTagsBeatStar) {
  start("rate-rules",
        "*=7/h,net=50/h,rate_limit_test.cpp:" + std::to_string(kOwnLine) + "=3/h,audit=off");
  for (int i = 0; i < 100; ++i) {
    tagged_net(i);
    own_rule(i);
    exempt(i);
    anything(i);
    disabled(i);  // its level is off: neither logged nor counted
  }
  const auto n = count_by_template(blackbox::test::read_own_ring());
  EXPECT_EQ(n.at("net {}"), 50);
  EXPECT_EQ(n.at("own {}"), 3);
  EXPECT_EQ(n.at("audit {}"), 100);
  EXPECT_EQ(n.at("misc {}"), 7);
  EXPECT_EQ(n.count("debug {}"), 0u);
  EXPECT_EQ(blackbox::stats().rate_limited, 50u + 97u + 93u);
}

TEST(RateLimit, ChangedAtRunTimeByTheApiAndFromOutside) {
  start("rate-live", "");
  for (int i = 0; i < 100; ++i) anything(i);
  EXPECT_EQ(blackbox::stats().rate_limited, 0u);
  ASSERT_EQ(blackbox::set_rate_limits("misc=10/min"), "");
  EXPECT_EQ(blackbox::rate_limits(), "misc=10/min");
  for (int i = 0; i < 100; ++i) anything(i);
  EXPECT_EQ(blackbox::stats().rate_limited, 90u);
  // A bad spec changes nothing.
  EXPECT_NE(blackbox::set_rate_limits("misc=10/fortnight"), "");
  EXPECT_EQ(blackbox::rate_limits(), "misc=10/min");

  // From outside, as `logcat ctl rate` sends it: a new rule starts with a full bucket.
  blackbox::ControlRequest set;
  set.kind = blackbox::ControlRequest::Kind::rate;
  set.rate_spec = "misc=20/min";
  blackbox::ControlReply reply;
  ASSERT_EQ(blackbox::send_control(blackbox::ring_path(), set, reply), "");
  EXPECT_TRUE(reply.applied) << reply.result;
  EXPECT_EQ(reply.result, "rate limits set to misc=20/min");
  for (int i = 0; i < 100; ++i) anything(i);
  EXPECT_EQ(blackbox::stats().rate_limited, 90u + 80u);

  blackbox::ControlRequest show;
  show.kind = blackbox::ControlRequest::Kind::rates;
  ASSERT_EQ(blackbox::send_control(blackbox::ring_path(), show, reply), "");
  EXPECT_EQ(reply.result, "rate limits: misc=20/min");

  set.rate_spec = "misc=";  // refused, and said why
  ASSERT_EQ(blackbox::send_control(blackbox::ring_path(), set, reply), "");
  EXPECT_FALSE(reply.applied);
  EXPECT_NE(reply.result.find("misc="), std::string::npos) << reply.result;

  set.rate_spec = "";  // no limits
  ASSERT_EQ(blackbox::send_control(blackbox::ring_path(), set, reply), "");
  EXPECT_EQ(reply.result, "rate limits removed");
  for (int i = 0; i < 100; ++i) anything(i);
  EXPECT_EQ(blackbox::stats().rate_limited, 170u);
  EXPECT_EQ(count_by_template(blackbox::test::read_own_ring()).at("misc {}"), 100 + 10 + 20 + 100);
}

TEST(EverySampling, EveryNAndEveryMsFromFourThreadsAreExactAndNotLosses) {
  start("every", "");
  four_threads([](int t, int i) { BBX_INFO_EVERY_N(10, "every tenth {} {}", t, i); });
  four_threads([](int t, int i) { BBX_WARN_EVERY_MS(3'600'000, "once an hour {} {}", t, i); });
  four_threads([](int, int i) {
    BBX_LOGF_EVERY_N("every", blackbox::Level::info, 1000, "printf %d\n", i);
    BBX_DEBUG_EVERY_N(1, "debug is off {}", i);  // a disabled level counts nothing
  });
  const auto n = count_by_template(blackbox::test::read_own_ring());
  EXPECT_EQ(n.at("every tenth {} {}"), kThreads * kCalls / 10);
  EXPECT_EQ(n.at("once an hour {} {}"), 1);
  EXPECT_EQ(n.at("printf %d"), kThreads);
  EXPECT_EQ(n.count("debug is off {}"), 0u);
  EXPECT_EQ(blackbox::stats().rate_limited, 0u);
}

TEST(RateLimit, AnEveryNSiteUnderARateLimitCountsOnlyWhatTheLimitSuppressed) {
  start("every-limited", "*=5/h");
  four_threads([](int t, int i) { BBX_INFO_EVERY_N(10, "tenth {} {}", t, i); });
  const auto n = count_by_template(blackbox::test::read_own_ring());
  EXPECT_EQ(n.at("tenth {} {}"), 5);
  EXPECT_EQ(blackbox::stats().rate_limited, kThreads * kCalls / 10 - 5u);
}

TEST(RateSpec, ParsesRulesAndSaysWhatIsWrong) {
  using blackbox::core::RateRule;
  blackbox::core::RateSpec spec;
  std::string error;
  ASSERT_TRUE(blackbox::core::parse_rate_spec(
      " net=1000/s, *=100000/s ,src/conn.cpp:42=10/min,audit=off,db=5/h,x=2/ms", spec, error))
      << error;
  ASSERT_EQ(spec.rules.size(), 6u);
  EXPECT_EQ(spec.rules[0].key, RateRule::Key::tag);
  EXPECT_EQ(spec.rules[0].per_period, 1000u);
  EXPECT_EQ(spec.rules[0].period_ns, 1'000'000'000u);
  EXPECT_EQ(spec.rules[1].key, RateRule::Key::every);
  EXPECT_EQ(spec.rules[2].key, RateRule::Key::site);
  EXPECT_EQ(spec.rules[2].file, "src/conn.cpp");
  EXPECT_EQ(spec.rules[2].line, 42u);
  EXPECT_EQ(spec.rules[2].period_ns, 60'000'000'000u);
  EXPECT_EQ(spec.rules[3].per_period, 0u);
  EXPECT_EQ(spec.rules[4].period_ns, 3'600'000'000'000u);
  EXPECT_EQ(spec.rules[5].period_ns, 1'000'000u);
  EXPECT_EQ(blackbox::core::rate_spec_text(spec),
            "net=1000/s,*=100000/s,src/conn.cpp:42=10/min,audit=off,db=5/h,x=2/ms");

  // Which rule a site gets: its own (by the file's name or a path ending), else its tag's.
  const blackbox::detail::StaticSite conn{
      blackbox::Level::info, "net", "/src/conn.cpp", 42, "f", "t"};
  const blackbox::detail::StaticSite other_file{
      blackbox::Level::info, "net", "/src/xconn.cpp", 42, "f", "t"};
  const blackbox::detail::StaticSite audit{blackbox::Level::info, "audit", "a.cpp", 1, "f", "t"};
  EXPECT_EQ(blackbox::core::rate_rule_for(spec, conn), &spec.rules[2]);
  EXPECT_EQ(blackbox::core::rate_rule_for(spec, other_file), &spec.rules[0]);
  EXPECT_EQ(blackbox::core::rate_rule_for(spec, audit), nullptr);

  // Rules that could never match are refused, saying which part is wrong; so are control
  // bytes (the spec reaches terminals: ctl rates, stats, the audit records).
  EXPECT_FALSE(blackbox::core::parse_rate_spec("file.cpp:0=1/s", spec, error));
  EXPECT_EQ(error, "\"file.cpp:0=1/s\": line 0 is no line (FILE:LINE counts from 1)");
  EXPECT_FALSE(blackbox::core::parse_rate_spec("net=1/s,x=1/s=2/s", spec, error));
  EXPECT_EQ(error, "\"x=1/s=2/s\": one '=' a rule (KEY=RATE, rules apart by ',')");
  EXPECT_FALSE(blackbox::core::parse_rate_spec("n\x1b]0;x\x07et=1/s", spec, error));
  EXPECT_EQ(error, "a control character (0x1b) in the rate spec");
  for (const char* bad : {"net", "net=", "net=10", "net=0/s", "net=10/week", "=5/s", "net=-1/s",
                          "net=1/s/s", "net=99999999999/s"}) {
    EXPECT_FALSE(blackbox::core::parse_rate_spec(bad, spec, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  EXPECT_TRUE(blackbox::core::parse_rate_spec("", spec, error));
  EXPECT_TRUE(spec.rules.empty());

  // Config: validated, and BBX_RATE read (a bad one is said and ignored).
  blackbox::Config c;
  c.rate_limits = "net=fast";
  ASSERT_EQ(c.validate().size(), 1u);
  EXPECT_NE(c.validate()[0].find("rate_limits"), std::string::npos);
  setenv("BBX_RATE", "net=1000/s,*=100000/s", 1);
  EXPECT_EQ(blackbox::Config::from_env().rate_limits, "net=1000/s,*=100000/s");
  setenv("BBX_RATE", "net=lots", 1);
  std::vector<std::string> warnings;
  EXPECT_EQ(blackbox::Config::from_env(&warnings).rate_limits, "");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("BBX_RATE"), std::string::npos);
  unsetenv("BBX_RATE");
}

}  // namespace
