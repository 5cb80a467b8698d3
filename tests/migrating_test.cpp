// docs/migrating.md, tested: the printf program, its mechanical rename (step 1) and its
// templates (step 2) say the same things; steps 1 and 2 say them in the archive, which
// logcat reads back message for message, with the levels and (step 2) the named fields.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace {

using blackbox::test::lines_of;
using blackbox::test::make_temp_dir;
using blackbox::test::run_program;

// The step's messages as logcat prints them from the archive, and its JSON lines.
struct Logged {
  std::vector<std::string> messages, json;
};
Logged run_step(const std::string& program) {
  const std::string archive = make_temp_dir("archive");
  const auto run = run_program(
      program, {},
      {"BBX_ARCHIVE_DIR=" + archive, "BBX_CONSOLE=off", "BBX_DIR=" + make_temp_dir("rings")});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_EQ(run.out, "");  // nothing on stdout or stderr: it all went to the recorder
  Logged logged;
  logged.messages = lines_of(run_program(BBX_LOGCAT, {"-o", "raw", archive}).out);
  logged.json = lines_of(run_program(BBX_LOGCAT, {"-o", "json", archive}).out);
  return logged;
}

TEST(MigratingTest, EveryStepSaysTheSame) {
  const auto before = run_program(BBX_MIGRATING_BEFORE, {});
  ASSERT_EQ(before.status, 0);
  const std::vector<std::string> printed = lines_of(before.out);
  ASSERT_EQ(printed.size(), 6u) << before.out;

  // The printf program's order depends on buffering (stdout to a pipe is flushed at exit,
  // stderr at once); the recorder keeps the order of the calls.
  const std::vector<std::string> in_call_order = {printed[1], printed[2], printed[3],
                                                  printed[0], printed[4], printed[5]};
  ASSERT_EQ(printed[0], "job 1 used  87.5% of its budget");
  const Logged step1 = run_step(BBX_MIGRATING_STEP1);
  EXPECT_EQ(step1.messages, in_call_order);
  const Logged step2 = run_step(BBX_MIGRATING_STEP2);
  EXPECT_EQ(step2.messages, in_call_order);

  // The warning is a warning; step 2's fields are named and typed.
  ASSERT_EQ(step1.json.size(), 6u);
  EXPECT_NE(step1.json[3].find(R"("severity_text":"WARN")"), std::string::npos) << step1.json[3];
  EXPECT_NE(step1.json[3].find(R"("tag":"jobs")"), std::string::npos) << step1.json[3];
  ASSERT_EQ(step2.json.size(), 6u);
  EXPECT_NE(step2.json[2].find(R"("fields":{"job":1,"file":"users.csv","ms":2.5})"),
            std::string::npos)
      << step2.json[2];
}

}  // namespace
