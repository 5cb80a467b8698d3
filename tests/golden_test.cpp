// Golden files (tests/golden/v<N>/): files of every format version that was ever written,
// made by real processes of that version (tests/golden/make_golden.cpp), with what logcat
// printed for them then. Every later logcat must print exactly the same: the promise that
// any logcat reads any older file. A format change bumps the version and adds a new set
// beside the old ones; an old set's expectations are never rewritten.
//
// Per file: FILE.json is `logcat --no-symbols -o json FILE` (stdout and stderr; exit 0),
// FILE.verify is `logcat verify FILE` followed by a line "exit N", FILE.metrics what
// `logcat metrics` shows of it (below). --no-symbols: a crash
// stack's symbols depend on which binaries this machine has, not on the file.
//
// BBX_GOLDEN_UPDATE=1 writes the expectations a new set lacks (never replaces one).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every blackbox file of every golden set, in order.
std::vector<fs::path> golden_files() {
  std::vector<fs::path> out;
  for (const auto& set : fs::directory_iterator(BBX_GOLDEN_DIR)) {
    if (!set.is_directory()) continue;
    for (const auto& e : fs::directory_iterator(set.path())) {
      const std::string ext = e.path().extension().string();
      if (ext == ".bbr" || ext == ".bbd" || ext == ".bbx") out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Compares `actual` with the expectation at `path` (or writes it, for a new set).
void expect_golden(const fs::path& path, const std::string& actual) {
  if (!fs::exists(path)) {
    if (std::getenv("BBX_GOLDEN_UPDATE") != nullptr) {
      std::ofstream(path, std::ios::binary) << actual;
      return;
    }
    ADD_FAILURE() << path << " is missing (BBX_GOLDEN_UPDATE=1 writes it for a new set)";
    return;
  }
  const std::string expected = read_file(path);
  if (expected == actual) return;
  // The first differing line, so a failure says what changed.
  std::istringstream e(expected), a(actual);
  std::string el, al;
  for (int line = 1;; ++line) {
    const bool more_e = static_cast<bool>(std::getline(e, el));
    const bool more_a = static_cast<bool>(std::getline(a, al));
    if (!more_e && !more_a) break;
    if (el != al || more_e != more_a) {
      ADD_FAILURE() << path << " line " << line
                    << " differs:\n  expected: " << (more_e ? el : "(end)")
                    << "\n  actual:   " << (more_a ? al : "(end)");
      return;
    }
  }
  ADD_FAILURE() << path << " differs";
}

// Members a later logcat added to the JSON objects (JSON readers take unknown keys), taken out
// of `actual` before the comparison, so that everything the objects had is still checked to
// be there, the same and in the same order:
//  - "app" in each record's object, before "pid";
//  - "telemetry" and "metrics" at the end of a crash object read from a recovered archive
//    file (recovery wrote them; logcat once showed them only from a ring file), where the
//    expectation's line has none.
std::string without_added_members(const std::string& actual, const fs::path& expected_path) {
  const std::string with_app =
      std::regex_replace(actual, std::regex(R"("app":"[^"]*","pid":)"), "\"pid\":");
  std::istringstream a(with_app), e(fs::exists(expected_path) ? read_file(expected_path) : "");
  std::string out, line, expected;
  while (std::getline(a, line)) {
    if (!std::getline(e, expected)) expected.clear();
    const std::size_t added = line.find(",\"telemetry\":{\"logged\":");
    if (line.starts_with("{\"crash\":") && added != std::string::npos &&
        expected.find("\"telemetry\":") == std::string::npos) {
      line = line.substr(0, added) + "}}";
    }
    out += line + "\n";
  }
  return out;
}

TEST(Golden, EverySetHasEveryKindOfFile) {
  std::vector<std::string> sets;
  for (const auto& set : fs::directory_iterator(BBX_GOLDEN_DIR)) {
    if (!set.is_directory()) continue;
    sets.push_back(set.path().filename().string());
    for (const char* name :
         {"ring.bbr", "crashed.bbr", "dump.bbd", "archive.bbx", "recovered.bbx"}) {
      EXPECT_TRUE(fs::exists(set.path() / name)) << set.path() / name;
    }
  }
  EXPECT_NE(std::find(sets.begin(), sets.end(), "v1"), sets.end());
  EXPECT_NE(std::find(sets.begin(), sets.end(), "v2"), sets.end());
  EXPECT_NE(std::find(sets.begin(), sets.end(), "v3"), sets.end());
  EXPECT_NE(std::find(sets.begin(), sets.end(), "v4"), sets.end());  // chunk codec 2
}

class GoldenFile : public ::testing::TestWithParam<fs::path> {};

TEST_P(GoldenFile, LogcatPrintsItAsItDidWhenItWasMade) {
  const fs::path file = GetParam();
  const auto json =
      blackbox::test::run_program(BBX_LOGCAT, {"--no-symbols", "-o", "json", file.string()});
  EXPECT_EQ(json.status, 0) << json.out;
  EXPECT_NE(json.out.find("\"message\""), std::string::npos) << "no records in " << file;
  expect_golden(file.string() + ".json", without_added_members(json.out, file.string() + ".json"));

  const auto verify = blackbox::test::run_program(BBX_LOGCAT, {"verify", file.string()});
  // The path in verify's report is where the test reads the file from: strip it.
  std::string out = verify.out;
  for (std::size_t at; (at = out.find(file.string())) != std::string::npos;) {
    out.replace(at, file.string().size(), file.filename().string());
  }
  expect_golden(file.string() + ".verify", out + "exit " + std::to_string(verify.status) + "\n");

  // The application metrics (ring format version 3 on): FILE.metrics is `logcat metrics -o
  // json FILE` for a ring or a dump, the history of its snapshots for an archive, then "exit
  // N". A set from before metrics says so (exit 1). The time a ring's metrics are read at is
  // now: it reads as T.
  const bool archive = file.extension() == ".bbx";
  const auto metrics = blackbox::test::run_program(
      BBX_LOGCAT, archive ? std::vector<std::string>{"metrics", "--since", "100000d", "--app",
                                                     "golden", "-o", "json", file.string()}
                          : std::vector<std::string>{"metrics", "-o", "json", file.string()});
  std::string shown = metrics.out;
  for (std::size_t at; (at = shown.find(file.string())) != std::string::npos;) {
    shown.replace(at, file.string().size(), file.filename().string());
  }
  if (!archive) {
    shown = std::regex_replace(shown, std::regex(R"("time_unix_nano":[0-9]+)"),
                               R"("time_unix_nano":T)");
  }
  expect_golden(file.string() + ".metrics",
                shown + "exit " + std::to_string(metrics.status) + "\n");
}

INSTANTIATE_TEST_SUITE_P(Sets, GoldenFile, ::testing::ValuesIn(golden_files()),
                         [](const ::testing::TestParamInfo<fs::path>& p) {
                           std::string name = p.param.parent_path().filename().string() + "_" +
                                              p.param.filename().string();
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

}  // namespace
