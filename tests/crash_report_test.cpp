// The crash report's parser (src/reader/crash_report.cpp) on reports made here, byte by
// byte: the current report with its trace context; a first-version report (856 bytes, no
// trace context), whose module entries start where this version's trace context is; and
// reports whose sizes and counts lie.
#include "reader/crash_report.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "crash/modules.hpp"
#include "format/ring_layout.hpp"

namespace {

namespace ring = blackbox::ring;

// The header page from the report on (what readers are given), with `report` at its start
// and one module entry at `modules_at`.
std::vector<std::byte> page_with(const ring::CrashReport& report, std::size_t report_bytes,
                                 std::size_t modules_at) {
  std::vector<std::byte> page(ring::kPageBytes - ring::kCrashOffset);
  std::memcpy(page.data(), &report, report_bytes);
  ring::CrashModule module{};
  module.start = 0x1000;
  module.end = 0x2000;
  module.build_id_bytes = 2;
  module.build_id[0] = 0xab;
  module.build_id[1] = 0xcd;
  std::memcpy(module.path, "/bin/app", 9);
  std::memcpy(page.data() + modules_at, &module, sizeof module);
  return page;
}

ring::CrashReport report_with_trace() {
  ring::CrashReport r{};
  std::memcpy(r.magic, ring::kCrashMagic, sizeof r.magic);
  r.fixed_bytes = sizeof r;
  r.signal = 11;
  r.tid = 42;
  r.module_count = 1;
  r.flags = ring::kCrashFlagTrace;
  for (std::uint8_t i = 0; i < 16; ++i) r.trace_id[i] = static_cast<std::uint8_t>(0x10 + i);
  for (std::uint8_t i = 0; i < 8; ++i) r.span_id[i] = static_cast<std::uint8_t>(0xa0 + i);
  return r;
}

TEST(CrashReport, CarriesTheCrashingThreadsTraceContext) {
  const ring::CrashReport r = report_with_trace();
  const auto info = blackbox::reader::parse_crash_report(page_with(r, sizeof r, sizeof r));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->signal, 11);
  EXPECT_EQ(info->tid, 42u);
  ASSERT_TRUE(info->has_trace);
  EXPECT_EQ(info->trace_id[0], 0x10);
  EXPECT_EQ(info->trace_id[15], 0x1f);
  EXPECT_EQ(info->span_id[0], 0xa0);
  EXPECT_EQ(info->span_id[7], 0xa7);
  ASSERT_EQ(info->modules.size(), 1u);
  EXPECT_EQ(info->modules[0].path, "/bin/app");
  EXPECT_EQ(info->modules[0].build_id, "abcd");

  ring::CrashReport no_trace = r;  // a thread outside any trace
  no_trace.flags = 0;
  const auto outside =
      blackbox::reader::parse_crash_report(page_with(no_trace, sizeof r, sizeof r));
  ASSERT_TRUE(outside);
  EXPECT_FALSE(outside->has_trace);
}

// A report of the first version: 856 bytes, its modules right after. The bytes where this
// version keeps the trace context are its first module's, and are not taken for one, even
// with the trace flag set.
TEST(CrashReport, AFirstVersionReportHasNoTraceAndKeepsItsModules) {
  ring::CrashReport r = report_with_trace();
  r.fixed_bytes = ring::kCrashReportBaseBytes;
  const auto info = blackbox::reader::parse_crash_report(
      page_with(r, ring::kCrashReportBaseBytes, ring::kCrashReportBaseBytes));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->signal, 11);
  EXPECT_FALSE(info->has_trace);
  ASSERT_EQ(info->modules.size(), 1u);
  EXPECT_EQ(info->modules[0].start, 0x1000u);
  EXPECT_EQ(info->modules[0].path, "/bin/app");
}

TEST(CrashReport, SizesAndCountsThatLieAreBounded) {
  ring::CrashReport r = report_with_trace();
  r.fixed_bytes = ring::kCrashReportBaseBytes - 8;  // shorter than any version
  EXPECT_FALSE(blackbox::reader::parse_crash_report(page_with(r, sizeof r, sizeof r)));
  r.fixed_bytes = 0xffff'ffff;  // modules past the page: none, and no read beyond it
  r.module_count = 0xffff'ffff;
  const auto far = blackbox::reader::parse_crash_report(page_with(r, sizeof r, sizeof r));
  ASSERT_TRUE(far);
  EXPECT_TRUE(far->has_trace);
  EXPECT_TRUE(far->modules.empty());
  r.fixed_bytes = sizeof r;  // more modules claimed than the page holds: those it holds
  const auto many = blackbox::reader::parse_crash_report(page_with(r, sizeof r, sizeof r));
  ASSERT_TRUE(many);
  EXPECT_EQ(many->modules.size(), std::size_t{ring::kCrashModules});
  std::vector<std::byte> short_page = page_with(r, sizeof r, sizeof r);
  short_page.resize(sizeof r - 1);  // not even a whole report
  EXPECT_FALSE(blackbox::reader::parse_crash_report(short_page));
}

}  // namespace

namespace {

[[gnu::noinline]] void a_function_of_this_executable() { asm volatile(""); }

}  // namespace

// The crash handler reads the module map while the flusher may refresh it (after a
// dlopen). Two refreshes during one read refill the very table being read: the reader must
// see that (a fill count, as a seqlock) and copy again, never hand out a torn entry.
TEST(CrashModules, ACopyTheMapWasRefilledUnderIsTakenAgain) {
  using namespace blackbox::crash;
  capture_modules();
  const auto frame = reinterpret_cast<std::uint64_t>(&a_function_of_this_executable);
  blackbox::ring::CrashModule out[4];
  const std::uint32_t before = module_copy_retries_for_testing();
  set_between_copy_and_check_for_testing([] {
    capture_modules();
    capture_modules();
  });
  ASSERT_EQ(modules_for(&frame, 1, out, 4), 1u);
  EXPECT_EQ(module_copy_retries_for_testing() - before, 1u);
  EXPECT_LE(out[0].start, frame);
  EXPECT_GT(out[0].end, frame);
  EXPECT_NE(std::string(out[0].path).find("crash_report_test"), std::string::npos) << out[0].path;
  // One refresh alone fills the other table: the copy stands.
  set_between_copy_and_check_for_testing([] { capture_modules(); });
  ASSERT_EQ(modules_for(&frame, 1, out, 4), 1u);
  EXPECT_EQ(module_copy_retries_for_testing() - before, 1u);
}
