// Configuration: level specs, sizes, the BBX_* environment, validation, and what happens when
// the ring directory cannot be used (the program still logs, and says so once).
#include "blackbox/config.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "blackbox/blackbox.hpp"
#include "core/level_spec.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::Level;
using blackbox::core::LevelSpec;
using blackbox::core::parse_level_spec;
using blackbox::core::parse_size;

TEST(ConfigTest, LevelSpecsParseDefaultsAndTags) {
  LevelSpec spec;
  std::string error;
  ASSERT_TRUE(parse_level_spec("info,net=debug, db = WARN ,", spec, error)) << error;
  EXPECT_EQ(spec.default_level, Level::info);
  ASSERT_EQ(spec.tags.size(), 2u);
  EXPECT_EQ(spec.tags[0], (std::pair<std::string, Level>{"net", Level::debug}));
  EXPECT_EQ(spec.tags[1], (std::pair<std::string, Level>{"db", Level::warn}));
  ASSERT_TRUE(parse_level_spec("net=trace", spec, error));
  EXPECT_EQ(spec.default_level, Level::info);
  ASSERT_TRUE(parse_level_spec("off", spec, error));
  EXPECT_EQ(spec.default_level, Level::off);
}

TEST(ConfigTest, BadLevelSpecsSayWhatIsWrong) {
  LevelSpec spec;
  std::string error;
  EXPECT_FALSE(parse_level_spec("verbose", spec, error));
  EXPECT_NE(error.find("unknown level \"verbose\""), std::string::npos) << error;
  EXPECT_FALSE(parse_level_spec("=debug", spec, error));
  EXPECT_NE(error.find("empty tag"), std::string::npos) << error;
  EXPECT_FALSE(parse_level_spec("info,debug", spec, error));
  EXPECT_NE(error.find("more than one default"), std::string::npos) << error;
  // Specs come from the environment and from other processes: no control byte gets in (it
  // would reach a terminal in `ctl levels` and the audit records).
  EXPECT_FALSE(parse_level_spec("info,n\x1b[2Jet=debug", spec, error));
  EXPECT_EQ(error, "a control character (0x1b) in the level spec");
  EXPECT_FALSE(parse_level_spec("net=debug\n", spec, error));
}

TEST(ConfigTest, SizesTakeBinarySuffixes) {
  std::uint64_t n = 0;
  ASSERT_TRUE(parse_size("64K", n));
  EXPECT_EQ(n, 65536u);
  ASSERT_TRUE(parse_size("2MiB", n));
  EXPECT_EQ(n, 2u << 20);
  ASSERT_TRUE(parse_size(" 1G ", n));
  EXPECT_EQ(n, 1u << 30);
  ASSERT_TRUE(parse_size("1000", n));
  EXPECT_EQ(n, 1000u);
  EXPECT_FALSE(parse_size("", n));
  EXPECT_FALSE(parse_size("12Q", n));
  EXPECT_FALSE(parse_size("-1", n));
  EXPECT_FALSE(parse_size("99999999999999999999", n));
  EXPECT_FALSE(parse_size("17179869184G", n));
}

TEST(ConfigTest, EnvironmentOverridesDefaultsAndBadValuesNameTheirVariable) {
  setenv("BBX_LEVEL", "debug,net=trace", 1);
  setenv("BBX_APP", "svc", 1);
  setenv("BBX_HOST", "node-7.example", 1);
  setenv("BBX_RETAIN_UNSHIPPED_BYTES", "8G", 1);
  setenv("BBX_RING_BYTES", "256K", 1);
  setenv("BBX_MAX_THREADS", "lots", 1);
  setenv("BBX_MAX_STRING", "3", 1);
  std::vector<std::string> warnings;
  const auto config = blackbox::Config::from_env(&warnings);
  EXPECT_EQ(config.levels, "debug,net=trace");
  EXPECT_EQ(config.app, "svc");
  EXPECT_EQ(config.host, "node-7.example");
  EXPECT_EQ(config.retain_unshipped_bytes, 8ull << 30);
  EXPECT_TRUE(config.validate().empty());
  blackbox::Config bad_host = config;
  bad_host.host = "two\nlines";
  EXPECT_EQ(bad_host.validate(),
            std::vector<std::string>{"host: at most 63 bytes, no control characters"});
  EXPECT_EQ(config.ring_bytes, 256u << 10);
  EXPECT_EQ(config.max_threads, blackbox::Config{}.max_threads);
  EXPECT_EQ(config.max_string_bytes, blackbox::Config{}.max_string_bytes);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0].find("BBX_MAX_THREADS=\"lots\": not a size"), 0u) << warnings[0];
  EXPECT_EQ(warnings[1].find("BBX_MAX_STRING=\"3\": out of range"), 0u) << warnings[1];

  setenv("BBX_LEVEL", "chatty", 1);
  setenv("BBX_RING_BYTES", "100000", 1);
  warnings.clear();
  const auto bad = blackbox::Config::from_env(&warnings);
  EXPECT_EQ(bad.levels, "info");
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_EQ(warnings[0].find("BBX_LEVEL=\"chatty\": unknown level"), 0u) << warnings[0];
  EXPECT_EQ(warnings[1].find("BBX_RING_BYTES=\"100000\": not a power of two"), 0u) << warnings[1];
  for (const char* v : {"BBX_LEVEL", "BBX_APP", "BBX_HOST", "BBX_RETAIN_UNSHIPPED_BYTES",
                        "BBX_RING_BYTES", "BBX_MAX_THREADS", "BBX_MAX_STRING"}) {
    unsetenv(v);
  }
}

TEST(ConfigTest, CrashHandlersFromTheEnvironment) {
  EXPECT_TRUE(blackbox::Config{}.crash_handlers);
  setenv("BBX_CRASH_HANDLERS", "0", 1);
  std::vector<std::string> warnings;
  EXPECT_FALSE(blackbox::Config::from_env(&warnings).crash_handlers);
  EXPECT_TRUE(warnings.empty());
  setenv("BBX_CRASH_HANDLERS", "yes", 1);
  EXPECT_TRUE(blackbox::Config::from_env(&warnings).crash_handlers);  // the default kept
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].find("BBX_CRASH_HANDLERS=\"yes\": expected 0 or 1"), 0u) << warnings[0];
  unsetenv("BBX_CRASH_HANDLERS");
}

TEST(ConfigTest, CrashDirAndDumpSignalFromTheEnvironment) {
  EXPECT_EQ(blackbox::Config{}.crash_dir, "");
  EXPECT_EQ(blackbox::Config{}.dump_signal, 0);
  setenv("BBX_CRASH_DIR", "/var/crash/app", 1);
  std::vector<std::string> warnings;
  for (const char* name : {"USR2", "SIGUSR2", "sigusr2", "12"}) {
    setenv("BBX_DUMP_SIGNAL", name, 1);
    const auto c = blackbox::Config::from_env(&warnings);
    EXPECT_EQ(c.dump_signal, SIGUSR2) << name;
    EXPECT_EQ(c.crash_dir, "/var/crash/app");
    EXPECT_TRUE(c.validate().empty());
  }
  EXPECT_TRUE(warnings.empty());
  setenv("BBX_DUMP_SIGNAL", "SIGNOPE", 1);
  EXPECT_EQ(blackbox::Config::from_env(&warnings).dump_signal, 0);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].find("BBX_DUMP_SIGNAL=\"SIGNOPE\""), 0u) << warnings[0];
  unsetenv("BBX_DUMP_SIGNAL");
  unsetenv("BBX_CRASH_DIR");
  // The crash signals, KILL and STOP cannot be the dump signal.
  for (const int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGKILL, SIGSTOP, -1, 4096}) {
    blackbox::Config c;
    c.dump_signal = sig;
    ASSERT_EQ(c.validate().size(), 1u) << sig;
    EXPECT_EQ(c.validate()[0].rfind("dump_signal: ", 0), 0u);
  }
}

// One configuration, checked the same way on every path: what the environment gives has
// passed validate() (the rules init() applies), field by field, so the lazy start (a log call
// before init(), or none at all) never runs with a value init() would refuse. Each bad value
// is said, naming its variable, and replaced by the default.
TEST(ConfigTest, TheEnvironmentAlwaysGivesAValidConfig) {
  struct Case {
    const char* var;
    const char* value;
    const char* said;  // the start of the warning
  };
  const Case cases[] = {
      {"BBX_DUMP_SIGNAL", "SEGV", "BBX_DUMP_SIGNAL=\"SEGV\": dump_signal: must be 0 or"},
      {"BBX_DUMP_SIGNAL", "ABRT", "BBX_DUMP_SIGNAL=\"ABRT\": dump_signal: must be 0 or"},
      {"BBX_METRICS_MS", "1", "BBX_METRICS_MS=\"1\": metrics_interval: must be 0 or 100 ms"},
      {"BBX_HOST", "evil\x1b[2J", "BBX_HOST=\"evil\x1b[2J\": host: at most 63 bytes"},
      {"BBX_ARCHIVE_DIR", "", "BBX_ARCHIVE_DIR=\"\": empty (\"off\" turns the archive off)"},
  };
  const blackbox::Config defaults;
  for (const Case& c : cases) {
    setenv(c.var, c.value, 1);
    std::vector<std::string> warnings;
    const auto config = blackbox::Config::from_env(&warnings);
    EXPECT_TRUE(config.validate().empty()) << c.var << ": " << config.validate().front();
    ASSERT_EQ(warnings.size(), 1u) << c.var;
    EXPECT_EQ(warnings[0].rfind(c.said, 0), 0u) << warnings[0];
    unsetenv(c.var);
  }
  setenv("BBX_DUMP_SIGNAL", "SEGV", 1);
  EXPECT_EQ(blackbox::Config::from_env().dump_signal, 0);  // said on stderr: none asked
  unsetenv("BBX_DUMP_SIGNAL");
  setenv("BBX_METRICS_MS", "1", 1);
  EXPECT_EQ(blackbox::Config::from_env(nullptr).metrics_interval, defaults.metrics_interval);
  unsetenv("BBX_METRICS_MS");
  setenv("BBX_ARCHIVE_DIR", "", 1);
  EXPECT_EQ(blackbox::Config::from_env(nullptr).archive_dir, defaults.archive_dir);
  unsetenv("BBX_ARCHIVE_DIR");
}

TEST(ConfigTest, ArchiveSettingsFromTheEnvironment) {
  setenv("BBX_ARCHIVE_DIR", "/srv/logs", 1);
  setenv("BBX_FLUSH_MS", "250", 1);
  setenv("BBX_ZSTD_LEVEL", "-3", 1);
  setenv("BBX_ROTATE_BYTES", "16M", 1);
  setenv("BBX_ROTATE_SECONDS", "600", 1);
  setenv("BBX_RETAIN_BYTES", "0", 1);
  setenv("BBX_RETAIN_SECONDS", "86400", 1);
  std::vector<std::string> warnings;
  auto c = blackbox::Config::from_env(&warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.archive_dir, "/srv/logs");
  EXPECT_EQ(c.flush_interval_ms, 250u);
  EXPECT_EQ(c.zstd_level, -3);
  EXPECT_EQ(c.rotate_bytes, 16u << 20);
  EXPECT_EQ(c.rotate_seconds, 600u);
  EXPECT_EQ(c.retain_bytes, 0u);
  EXPECT_EQ(c.retain_seconds, 86400u);
  EXPECT_TRUE(c.validate().empty());

  setenv("BBX_ARCHIVE_DIR", "off", 1);
  setenv("BBX_FLUSH_MS", "5", 1);
  setenv("BBX_ZSTD_LEVEL", "max", 1);
  setenv("BBX_ROTATE_BYTES", "1K", 1);
  warnings.clear();
  c = blackbox::Config::from_env(&warnings);
  EXPECT_EQ(c.archive_dir, "");  // no archive, no flusher thread
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_EQ(warnings[0].find("BBX_FLUSH_MS=\"5\": out of range 10 .. 60000"), 0u) << warnings[0];
  EXPECT_EQ(warnings[1].find("BBX_ZSTD_LEVEL=\"max\": expected an integer -7 .. 19"), 0u)
      << warnings[1];
  EXPECT_EQ(warnings[2].find("BBX_ROTATE_BYTES=\"1K\": out of range"), 0u) << warnings[2];
  EXPECT_EQ(c.flush_interval_ms, blackbox::Config{}.flush_interval_ms);
  EXPECT_EQ(c.zstd_level, 1);
  for (const char* v : {"BBX_ARCHIVE_DIR", "BBX_FLUSH_MS", "BBX_ZSTD_LEVEL", "BBX_ROTATE_BYTES",
                        "BBX_ROTATE_SECONDS", "BBX_RETAIN_BYTES", "BBX_RETAIN_SECONDS"}) {
    unsetenv(v);
  }
  // The documented default: under $XDG_STATE_HOME, else $HOME, else /var/tmp per user.
  const std::string home = std::getenv("HOME") != nullptr ? std::getenv("HOME") : "";
  setenv("XDG_STATE_HOME", "/state", 1);
  EXPECT_EQ(blackbox::Config::default_archive_dir(), "/state/blackbox");
  unsetenv("XDG_STATE_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(blackbox::Config::default_archive_dir(), "/home/u/.local/state/blackbox");
  unsetenv("HOME");
  EXPECT_EQ(blackbox::Config::default_archive_dir(),
            "/var/tmp/blackbox-" + std::to_string(getuid()));
  if (!home.empty()) setenv("HOME", home.c_str(), 1);
}

TEST(ConfigTest, MetricSettingsFromTheEnvironmentAndTheirRanges) {
  EXPECT_EQ(blackbox::Config{}.metric_cells, 8192u);
  EXPECT_EQ(blackbox::Config{}.metrics_interval, std::chrono::seconds(10));
  setenv("BBX_METRIC_CELLS", "3000", 1);  // rounded up to whole pages of cells
  setenv("BBX_METRICS_MS", "2500", 1);
  std::vector<std::string> warnings;
  auto c = blackbox::Config::from_env(&warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.metric_cells, 3072u);
  EXPECT_EQ(c.metrics_interval, std::chrono::milliseconds(2500));
  EXPECT_TRUE(c.validate().empty());
  setenv("BBX_METRIC_CELLS", "100", 1);
  setenv("BBX_METRICS_MS", "2h", 1);
  warnings.clear();
  c = blackbox::Config::from_env(&warnings);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0].find("BBX_METRIC_CELLS=\"100\": out of range 512 .. 1048576"), 0u)
      << warnings[0];
  EXPECT_EQ(warnings[1].find("BBX_METRICS_MS=\"2h\": not a size"), 0u) << warnings[1];
  EXPECT_EQ(c.metric_cells, 8192u);
  unsetenv("BBX_METRIC_CELLS");
  unsetenv("BBX_METRICS_MS");
  blackbox::Config bad;
  bad.metric_cells = 1000;
  bad.metrics_interval = std::chrono::milliseconds(50);
  const auto errors = bad.validate();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].find("metric_cells: must be a multiple of 512"), 0u) << errors[0];
  EXPECT_EQ(errors[1].find("metrics_interval: must be 0 or 100 ms .. 1 h, got 50 ms"), 0u)
      << errors[1];
  bad = blackbox::Config{};
  bad.metrics_interval = std::chrono::seconds(0);  // snapshots at rotation, exit, recovery only
  EXPECT_TRUE(bad.validate().empty());
}

TEST(ConfigTest, ValidateNamesEveryBadField) {
  blackbox::Config c;
  EXPECT_TRUE(c.validate().empty());
  c.ring_bytes = 3000;
  c.block_bytes = 100;
  c.max_threads = 0;
  c.levels = "loud";
  const auto errors = c.validate();
  ASSERT_EQ(errors.size(), 5u);
  blackbox::Config archive;
  archive.flush_interval_ms = 1;
  archive.zstd_level = 30;
  archive.rotate_bytes = 10;
  archive.rotate_seconds = 0;
  const auto archive_errors = archive.validate();
  ASSERT_EQ(archive_errors.size(), 4u);
  EXPECT_EQ(archive_errors[0].find("flush_interval_ms:"), 0u);
  EXPECT_EQ(archive_errors[1].find("zstd_level:"), 0u);
  EXPECT_EQ(archive_errors[2].find("rotate_bytes:"), 0u);
  EXPECT_EQ(archive_errors[3].find("rotate_seconds:"), 0u);
  EXPECT_EQ(errors[0].find("levels:"), 0u);
  EXPECT_EQ(errors[1].find("ring_bytes:"), 0u);
  EXPECT_EQ(errors[2].find("block_bytes:"), 0u);
  EXPECT_EQ(errors[3].find("max_threads:"), 0u);
  EXPECT_EQ(errors[4].find("max_string_bytes: must be 16 .. block_bytes / 2"), 0u);
}

TEST(ConfigTest, MissingRingDirectoryFallsBackToMemoryAndSaysSoOnce) {
  const auto run = blackbox::test::run_helper({"report"}, {"BBX_DIR=/nonexistent/parent/dir"});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("records=4 anonymous=1 path=[]"), std::string::npos) << run.out;
  const auto first = run.out.find("blackbox: cannot create directory /nonexistent/parent/dir");
  EXPECT_NE(first, std::string::npos) << run.out;
  EXPECT_NE(run.out.find("logging to an in-memory ring instead"), std::string::npos);
  EXPECT_EQ(run.out.find("blackbox:", first + 1), std::string::npos) << "said once: " << run.out;
}

TEST(ConfigTest, FullRingDirectoryFallsBackToMemory) {
  const std::string dir = blackbox::test::make_temp_dir("enospc");
  const auto run = blackbox::test::run_helper({"enospc"}, {"BBX_DIR=" + dir});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("records=4 anonymous=1"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("No space left on device"), std::string::npos) << run.out;
}

TEST(ConfigTest, NoMemoryForAnyRingSaysSoOnceAndCountsEveryDrop) {
  const std::string dir = blackbox::test::make_temp_dir("nomem");
  const auto run = blackbox::test::run_helper({"nomem"}, {"BBX_DIR=" + dir});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("dropped=1000"), std::string::npos) << run.out;
  // One start attempt, one message: not one per log call.
  std::size_t messages = 0;
  for (std::size_t at = run.out.find("blackbox:"); at != std::string::npos;
       at = run.out.find("blackbox:", at + 1)) {
    ++messages;
  }
  EXPECT_EQ(messages, 1u) << run.out;
}

TEST(ConfigTest, UnwritableRingDirectoryFallsBackToMemory) {
  const std::string dir = blackbox::test::make_temp_dir("eacces");
  const auto run = blackbox::test::run_helper({"eacces"}, {"BBX_DIR=" + dir});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("records=4 anonymous=1"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("cannot create ring file " + dir), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("Permission denied"), std::string::npos) << run.out;
}

TEST(ConfigTest, BadEnvironmentIsReportedAndTheProgramStillLogs) {
  const std::string dir = blackbox::test::make_temp_dir("badenv");
  const auto run = blackbox::test::run_helper(
      {"report"}, {"BBX_DIR=" + dir, "BBX_LEVEL=warn,=x", "BBX_RING_BYTES=huge"});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("blackbox: BBX_LEVEL=\"warn,=x\": empty tag"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("blackbox: BBX_RING_BYTES=\"huge\": not a size"), std::string::npos)
      << run.out;
  // The default level (info) applies: all four records are info or above.
  EXPECT_NE(run.out.find("records=4 anonymous=0 path=[" + dir + "/"), std::string::npos) << run.out;
}

TEST(ConfigTest, LevelFromEnvironmentFiltersAtTheCallSite) {
  const std::string dir = blackbox::test::make_temp_dir("envlevel");
  const auto run = blackbox::test::run_helper({"report"}, {"BBX_DIR=" + dir, "BBX_LEVEL=warn"});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("records=2 anonymous=0"), std::string::npos) << run.out;
}

TEST(ConfigTest, RecordsLoggedBeforeInitAreKeptAndInitStillAppliesLevels) {
  BBX_LOG("early", blackbox::Level::info, "before init {}", 1);  // starts from the environment
  blackbox::Config config = blackbox::Config::from_env();
  config.levels = "warn";
  const auto same = blackbox::init(config);
  EXPECT_TRUE(same.ok()) << same.error;
  BBX_LOG("early", blackbox::Level::info, "filtered by init's levels {}", 2);
  config.app = "another-name";
  const auto moved = blackbox::init(config);
  EXPECT_FALSE(moved.ok());
  EXPECT_NE(moved.error.find("already started"), std::string::npos) << moved.error;
  blackbox::Config invalid;
  invalid.dir.clear();
  EXPECT_FALSE(blackbox::init(invalid).ok()) << "an invalid config is refused";
  std::vector<std::string> early;
  for (const auto& r : blackbox::test::read_own_ring()) {
    if (r.tag == "early") early.push_back(r.message);
  }
  EXPECT_EQ(early, std::vector<std::string>{"before init 1"});
}

}  // namespace

// init() with a ring directory it cannot use still starts the logger (into memory), and its
// result says so: not ok, degraded, with the reason and what it does instead. It once said
// ok.
TEST(ConfigTest, InitSaysSoWhenItFellBackToAnInMemoryRing) {
  const std::string dir = blackbox::test::make_temp_dir("shared");
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  blackbox::Config config = blackbox::Config::from_env();
  config.dir = dir;
  config.archive_dir.clear();
  ::testing::internal::CaptureStderr();
  const blackbox::InitResult result = blackbox::init(config);
  (void)::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.degraded);
  EXPECT_NE(result.error.find("refusing directory " + dir + ": writable by other users"),
            std::string::npos)
      << result.error;
  EXPECT_NE(result.error.find("logging to an in-memory ring instead"), std::string::npos)
      << result.error;
  BBX_INFO("still logs {}", 1);
  EXPECT_TRUE(blackbox::stats().anonymous_ring);
  EXPECT_EQ(blackbox::test::read_own_ring().size(), 1u);
  // Asked again, it still says so.
  EXPECT_TRUE(blackbox::init(config).degraded);
}

// from_env() without its warnings argument still says what it ignored, on stderr, as the
// implicit start does: BBX_LEVEL=debgu once passed in silence.
TEST(ConfigTest, FromEnvWithoutWarningsSaysBadValuesOnStderr) {
  setenv("BBX_LEVEL", "debgu", 1);
  ::testing::internal::CaptureStderr();
  const blackbox::Config c = blackbox::Config::from_env();
  const std::string said = ::testing::internal::GetCapturedStderr();
  unsetenv("BBX_LEVEL");
  EXPECT_EQ(c.levels, blackbox::Config{}.levels);
  EXPECT_NE(said.find("blackbox: BBX_LEVEL=\"debgu\": "), std::string::npos) << said;
  // With the argument, the caller gets them and stderr stays quiet.
  setenv("BBX_LEVEL", "debgu", 1);
  std::vector<std::string> warnings;
  ::testing::internal::CaptureStderr();
  (void)blackbox::Config::from_env(&warnings);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  unsetenv("BBX_LEVEL");
  EXPECT_EQ(warnings.size(), 1u);
}

TEST(ConfigTest, ConsoleAndCaptureFromTheEnvironment) {
  std::vector<std::string> warnings;
  setenv("BBX_CONSOLE", "json:warn", 1);
  setenv("BBX_CONSOLE_MS", "20", 1);
  setenv("BBX_CAPTURE", "1", 1);
  blackbox::Config c = blackbox::Config::from_env(&warnings);
  EXPECT_EQ(c.console, "json:warn");
  EXPECT_EQ(c.console_interval_ms, 20u);
  EXPECT_TRUE(c.capture_stdio);
  EXPECT_TRUE(warnings.empty());
  setenv("BBX_CONSOLE", "loud", 1);
  setenv("BBX_CONSOLE_MS", "1", 1);
  setenv("BBX_CAPTURE", "yes", 1);
  c = blackbox::Config::from_env(&warnings);
  EXPECT_EQ(c.console, "auto");
  EXPECT_EQ(c.console_interval_ms, 50u);
  EXPECT_FALSE(c.capture_stdio);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("BBX_CONSOLE=\"loud\""), std::string::npos) << warnings[0];
  unsetenv("BBX_CONSOLE");
  unsetenv("BBX_CONSOLE_MS");
  unsetenv("BBX_CAPTURE");
  c.console = "on:verbose";
  c.console_interval_ms = 0;
  const auto errors = c.validate();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("console: unknown level \"verbose\""), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("console_interval_ms"), std::string::npos) << errors[1];
}

TEST(ConfigTest, WhenFullAndMaxWaitFromTheEnvironment) {
  EXPECT_EQ(blackbox::Config{}.when_full, blackbox::WhenFull::overwrite);
  EXPECT_EQ(blackbox::Config{}.max_wait, std::chrono::seconds(1));
  std::vector<std::string> warnings;
  setenv("BBX_WHEN_FULL", "wait", 1);
  setenv("BBX_MAX_WAIT_MS", "250", 1);
  blackbox::Config c = blackbox::Config::from_env(&warnings);
  EXPECT_EQ(c.when_full, blackbox::WhenFull::wait);
  EXPECT_EQ(c.max_wait, std::chrono::milliseconds(250));
  EXPECT_TRUE(warnings.empty());
  EXPECT_TRUE(c.validate().empty());
  setenv("BBX_WHEN_FULL", "block", 1);
  setenv("BBX_MAX_WAIT_MS", "0", 1);
  c = blackbox::Config::from_env(&warnings);
  EXPECT_EQ(c.when_full, blackbox::WhenFull::overwrite);
  EXPECT_EQ(c.max_wait, std::chrono::seconds(1));
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0], "BBX_WHEN_FULL=\"block\": expected overwrite or wait; using overwrite");
  EXPECT_EQ(warnings[1], "BBX_MAX_WAIT_MS=\"0\": out of range 1 .. 3600000; using 1000");
  unsetenv("BBX_WHEN_FULL");
  unsetenv("BBX_MAX_WAIT_MS");
  c.max_wait = std::chrono::hours(2);
  c.when_full = static_cast<blackbox::WhenFull>(7);
  const auto errors = c.validate();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "when_full: must be WhenFull::overwrite or WhenFull::wait, got 7");
  EXPECT_EQ(errors[1], "max_wait: must be 1 ms .. 1 h, got 7200000 ms");
}
