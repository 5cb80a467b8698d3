// The USDT probes (blackbox/detail/probes.hpp, docs/tracing.md). Without root: the probes'
// ELF notes (readelf -n), each with its semaphore. As root, with Debian's bpftrace (0.17;
// scripts/install-deps.sh installs it): bpftrace attached to a live process (-p) lists the
// probes, counts exactly the firings of a known number of calls at an enabled and at a
// disabled level, reads a disabled call's template and arguments, and every one-liner of
// docs/tracing.md runs and says what it should. Otherwise those skip, saying why.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/detail/probes.hpp"
#include "support/child.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::test::Child;

constexpr long kCalls = 1000;

// The output of a shell command line (stdout and stderr).
std::string shell(const std::string& command) {
  return blackbox::test::command_output(command + " 2>&1");
}

// Probe name -> its semaphore address, from `readelf -n` of `path`; `locations`: how many
// notes (probe locations) each has.
std::map<std::string, std::string> probes_in(const std::string& path,
                                             std::map<std::string, int>* locations = nullptr) {
  std::map<std::string, std::string> out;
  std::istringstream lines(shell("readelf -n " + path));
  std::string provider, name;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, std::regex("Provider: (\\S+)"))) provider = m[1];
    if (std::regex_search(line, m, std::regex("Name: (\\S+)"))) name = m[1];
    if (std::regex_search(line, m, std::regex("Semaphore: (0x[0-9a-f]+)")) &&
        provider == "blackbox") {
      out[name] = m[1];
      if (locations != nullptr) ++(*locations)[name];
    }
  }
  return out;
}

TEST(Usdt, EveryProbeIsAnElfNoteWithASemaphore) {
  if (!BBX_HAVE_USDT) GTEST_SKIP() << "built without <sys/sdt.h> (systemtap-sdt-dev)";
  // The call sites' record probes are in the program; the library's own (spans, losses,
  // crashes) in the library (a static one is linked into the program too).
  auto found = probes_in(BBX_USDT_TARGET);
  for (const auto& [name, semaphore] : probes_in(BBX_LIBRARY)) found.emplace(name, semaphore);
  for (const char* name : {"record", "span_start", "span_end", "loss", "crash"}) {
    ASSERT_EQ(found.count(name), 1u) << "no blackbox:" << name << " note";
    EXPECT_NE(found[name], "0x0000000000000000") << name << " has no semaphore";
  }
}

// Root and bpftrace, or why not.
std::string cannot_trace() {
  if (!BBX_HAVE_USDT) return "built without <sys/sdt.h> (systemtap-sdt-dev)";
  if (geteuid() != 0) return "bpftrace needs root";
  if (shell("command -v bpftrace").empty()) {
    return "bpftrace is not installed (scripts/install-deps.sh installs Debian's)";
  }
  return "";
}

// Runs `script` in bpftrace attached to a fresh target making kCalls calls: what bpftrace
// printed (its maps at the end included).
std::string trace(const std::string& script) {
  // The target waits until every location of the probes the script names is attached: the
  // record probes in the program, the library's own (spans...) where they are (in the
  // program when the library is linked in statically, else in the library).
  std::map<std::string, int> in_program, in_library;
  probes_in(BBX_USDT_TARGET, &in_program);
  probes_in(BBX_LIBRARY, &in_library);
  const bool shared_library = std::string(BBX_LIBRARY).find(".so") != std::string::npos;
  std::vector<std::string> argv = {BBX_USDT_TARGET, std::to_string(kCalls)};
  std::set<std::string> named;
  const std::regex probe("blackbox:(\\w+)");
  for (auto it = std::sregex_iterator(script.begin(), script.end(), probe);
       it != std::sregex_iterator(); ++it) {
    named.insert((*it)[1]);
  }
  for (const std::string& name : named) {
    const int n = name == "record" || !shared_library ? in_program[name] : in_library[name];
    argv.push_back(name + "=" + std::to_string(n));
  }
  Child target(argv, {{"BBX_ARCHIVE_DIR", "off"}, {"BBX_CONSOLE", "off"}});
  EXPECT_EQ(target.read_until("ready").back(), "ready");
  // -B line: its output line by line through the pipe. bpftrace runs BEGIN once every probe
  // is attached and enabled (it says "Attaching N probes..." before, and a semaphore is
  // raised when a probe is registered, before its program is attached: neither says that
  // events are seen yet).
  Child tracer({"/usr/bin/env", "bpftrace", "-B", "line", "-p", std::to_string(target.pid()), "-e",
                script + " BEGIN { printf(\"bbx-attached\\n\"); }"});
  const auto attached =
      tracer.read_until_line([](const std::string& l) { return l == "bbx-attached"; });
  EXPECT_FALSE(attached.empty() || attached.back() != "bbx-attached") << script;
  target.send("go");
  const auto said = target.read_until_ending("done");
  EXPECT_EQ(said.empty() ? "" : said.back(), "done") << script;
  // SIGINT: bpftrace prints its maps and exits. It may miss one that comes while it is still
  // busy after attaching, so it is sent again every half second until bpftrace is gone.
  std::atomic<bool> gone{false};
  std::thread interrupter([&] {
    while (!gone.load()) {
      kill(tracer.pid(), SIGINT);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  std::string out;
  for (const auto& l : attached) out += l + "\n";
  out += tracer.read_rest();
  tracer.wait();
  gone.store(true);
  interrupter.join();
  target.close_stdin();
  EXPECT_EQ(target.wait(), 0);
  return out;
}

// How many lines of `text` contain `what`.
std::size_t lines_with(const std::string& text, const std::string& what) {
  std::istringstream lines(text);
  std::size_t n = 0;
  for (std::string line; std::getline(lines, line);) n += line.find(what) != std::string::npos;
  return n;
}

TEST(UsdtBpftrace, ListsTheProbesAndCountsEveryFiringEnabledOrNot) {
  if (const std::string why = cannot_trace(); !why.empty()) GTEST_SKIP() << why;
  const std::string listed =
      shell(fmt::format("bpftrace -l 'usdt:{}:blackbox:*'", BBX_USDT_TARGET));
  EXPECT_NE(listed.find("blackbox:record"), std::string::npos) << listed;

  // One clause per probe: the target waits for the probe's semaphore, which counts each
  // location once however many clauses attach to it.
  const std::string out = trace(
      "usdt:*:blackbox:record { @calls[str(arg2), arg1] = count(); if (arg1 == 1) { "
      "@ids = sum(*(int64*)arg4); @sizes[arg5] = count(); @templates[str(arg3)] = count(); } }");
  // Exactly the calls made: kCalls at debug (disabled), kCalls at info (enabled), and the
  // spans' records.
  EXPECT_NE(out.find(fmt::format("@calls[net, 1]: {}", kCalls)), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("@calls[http, 2]: {}", kCalls)), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("@calls[db, 2]: {}", kCalls / 10)), std::string::npos) << out;
  // The disabled call's template and arguments: ids 0 .. kCalls-1 summed, and each
  // encoding the same size: an 8-byte id, then the peer's 4-byte length and its 8 bytes.
  EXPECT_NE(out.find(fmt::format("@ids: {}", kCalls * (kCalls - 1) / 2)), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("@sizes[20]: {}", kCalls)), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("@templates[disabled {{id}} to {{peer}}]: {}", kCalls)),
            std::string::npos)
      << out;
}

TEST(UsdtBpftrace, TheOneLinersOfTracingMd) {
  if (const std::string why = cannot_trace(); !why.empty()) GTEST_SKIP() << why;
  std::ifstream doc(std::string(BBX_SOURCE_DIR) + "/docs/tracing.md");
  std::vector<std::string> scripts;
  const std::regex one_liner("^bpftrace -p \\$PID -e '(.*)'$");
  for (std::string line; std::getline(doc, line);) {
    std::smatch m;
    if (std::regex_match(line, m, one_liner)) scripts.push_back(m[1]);
  }
  // What each must say, in the order of the document: a line, exactly once (maps, which
  // count every firing), or at least once (printf: a burst of 1,000 events in a few
  // milliseconds overflows bpftrace's event buffer, and it says "Lost N events").
  constexpr std::size_t kSome = 0;
  const std::vector<std::pair<std::string, std::size_t>> expected = {
      {fmt::format("@[net, 1]: {}", kCalls), 1},
      {" peer=10.0.0.7", kSome},
      {"@ns[db.query]:", 1},
      {fmt::format("served {{id}}]: {}", kCalls), 1},
      {"\\x08\\x00\\x00\\x0010.0.0.7", kSome},
  };
  ASSERT_EQ(scripts.size(), expected.size()) << "docs/tracing.md's one-liners changed";
  for (std::size_t i = 0; i < scripts.size(); ++i) {
    const std::string out = trace(scripts[i]);
    const std::size_t n = lines_with(out, expected[i].first);
    if (expected[i].second == kSome) {
      EXPECT_GE(n, 1u) << "one-liner " << i + 1 << ": " << scripts[i] << "\n" << out;
    } else {
      EXPECT_EQ(n, expected[i].second) << "one-liner " << i + 1 << ": " << scripts[i] << "\n"
                                       << out;
    }
    if (i == 1) {  // the decoded arguments: each line's id is one of the calls'
      const std::regex decoded("disabled \\{id\\} to \\{peer\\}: id=(\\d+) peer=10\\.0\\.0\\.7");
      std::smatch m;
      ASSERT_TRUE(std::regex_search(out, m, decoded)) << out;
      EXPECT_LT(std::stol(m[1]), kCalls);
    }
  }
}

}  // namespace
