#include "runs.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include "json.hpp"
#include "render.hpp"

namespace logcat {
namespace {

using Key = std::tuple<std::string, std::int32_t, std::int64_t>;  // app, pid, start

// A run's start or end: "-" when unknown.
std::string run_time(std::int64_t ns, bool utc) {
  return ns == 0 ? "-" : clock_text(ns, utc, true);
}

}  // namespace

std::vector<Run> find_runs(Inputs& inputs, const std::vector<std::string>& apps) {
  std::map<Key, Run> runs;
  auto run_of = [&](const std::string& app, const std::string& host, std::int32_t pid,
                    std::int64_t start) -> Run& {
    Run& r = runs[{app, pid, start}];
    r.app = app;
    r.host = host;
    r.pid = pid;
    r.start_ns = start;
    return r;
  };
  inputs.scan();
  for (const blackbox::ArchiveFileInfo& f : inputs.archive_files()) {
    if (!f.header_ok) continue;  // whose run it is, is not known
    if (!apps.empty() && std::find(apps.begin(), apps.end(), f.app) == apps.end()) continue;
    Run& r = run_of(f.app, f.host, f.pid, f.process_start_ns);
    r.records += f.records;
    r.lost += f.lost_records;
    r.last_record_ns = std::max(r.last_record_ns, f.last_ns);
    if (f.crash) {
      r.how = "crashed: " + signal_name(f.crash->signal);
      r.end_ns = f.crash->time_ns;
    } else if (f.end != blackbox::ArchiveFileInfo::End::none && r.how.rfind("crashed", 0) != 0) {
      r.how = f.end == blackbox::ArchiveFileInfo::End::exited ? "exited" : "killed";
      r.end_ns = f.end_ns;
    }
  }
  for (const auto& [info, unarchived, lost] : inputs.ring_counts()) {
    Run& r = run_of(info.app, info.host, info.pid, info.start_time_ns);
    r.records += unarchived.records;
    r.last_record_ns = std::max(r.last_record_ns, unarchived.last_ns);
    r.lost += lost;
    if (info.crash) {
      r.how = "crashed: " + signal_name(info.crash->signal);
      r.end_ns = info.crash->time_ns;
    } else if (info.state == blackbox::RingState::exited) {
      r.how = "exited";
    } else if (info.process_alive) {
      r.how = "running";
      r.running = true;
    } else if (r.how.empty()) {
      r.how = "killed";  // its ring is left, live, by a process that is gone
    }
  }
  // Runs under bbx-run: bbx-run is a process of its own, with a run of the same app, which
  // records the program's pid ("started CMD as pid N") and how it ended ("CMD (pid N) was
  // killed by SIGSEGV ...", "... exited with status 3"). A blackbox program's own run is the
  // run, with bbx-run's records counted in; a program that is not one has bbx-run's run only,
  // which ends as the program did (not "exited": bbx-run itself always exits).
  struct Wrapped {
    std::int32_t child = 0;
    std::string how;  // from bbx-run's last record; "" if it said nothing yet
  };
  std::map<std::pair<std::int32_t, std::int64_t>, Wrapped> wrappers;  // bbx-run's pid, start
  inputs.read_unordered([&](const blackbox::Record& r) {
    if (r.tag != "bbx-run") return true;
    const std::string_view m = r.message;
    Wrapped& w = wrappers[{r.pid, r.process_start_ns}];
    if (m.starts_with("started ")) {
      if (const std::size_t at = m.rfind(" as pid "); at != std::string_view::npos) {
        w.child = std::atoi(std::string(m.substr(at + 8)).c_str());
      }
    } else if (const std::size_t killed = m.rfind(") was killed by SIG");
               killed != std::string_view::npos) {
      const std::string_view sig = m.substr(killed + 16, m.find(' ', killed + 16) - (killed + 16));
      const bool crash = sig == "SIGSEGV" || sig == "SIGBUS" || sig == "SIGILL" ||
                         sig == "SIGFPE" || sig == "SIGABRT";
      w.how = (crash ? "crashed: " : "killed: ") + std::string(sig);
    } else if (const std::size_t exited = m.rfind(") exited with status ");
               exited != std::string_view::npos) {
      const std::string_view status = m.substr(exited + 21);
      w.how = status == "0" ? "exited" : "exited: status " + std::string(status);
    }
    return true;
  });
  for (const auto& entry : wrappers) {
    // (Not a structured binding: clang 14 cannot capture one in the lambdas below.)
    const std::pair<std::int32_t, std::int64_t>& wrapper_key = entry.first;
    const Wrapped& w = entry.second;
    auto wrapper = std::find_if(runs.begin(), runs.end(), [&](const auto& kv) {
      return kv.second.pid == wrapper_key.first && kv.second.start_ns == wrapper_key.second;
    });
    if (wrapper == runs.end() || w.child == 0) continue;
    auto child = std::find_if(runs.begin(), runs.end(), [&](const auto& kv) {
      return kv.second.pid == w.child && kv.second.start_ns >= wrapper_key.second;
    });
    Run& ran = child != runs.end() ? child->second : wrapper->second;
    ran.wrapper_pid = wrapper_key.first;
    if (!w.how.empty() && !ran.running && ran.how.rfind("crashed", 0) != 0) ran.how = w.how;
    if (child != runs.end()) {
      ran.records += wrapper->second.records;
      ran.lost += wrapper->second.lost;
      ran.last_record_ns = std::max(ran.last_record_ns, wrapper->second.last_record_ns);
      runs.erase(wrapper);
    }
  }
  std::vector<Run> out;
  for (auto& [key, r] : runs) {
    if (r.how.empty()) {
      // Nothing says how it ended: is it still there (its ring elsewhere)?
      const bool alive = r.pid > 0 && (kill(r.pid, 0) == 0 || errno == EPERM);
      r.how = alive && r.last_record_ns != 0 ? "running?" : "unknown";
    }
    if (!r.running && r.end_ns == 0) r.end_ns = r.last_record_ns;
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(), [](const Run& a, const Run& b) {
    return std::tie(a.start_ns, a.pid) < std::tie(b.start_ns, b.pid);
  });
  std::map<std::string, int> per_app;
  for (const Run& r : out) ++per_app[r.app];
  std::map<std::string, int> seen;
  for (Run& r : out) r.index = ++seen[r.app] - per_app[r.app];
  return out;
}

const Run* pick_run(const std::vector<Run>& runs, int n, std::string& error) {
  std::set<std::string> apps;
  for (const Run& r : runs) apps.insert(r.app);
  if (apps.size() > 1) {
    std::string names;
    for (const auto& a : apps) names += (names.empty() ? "" : ", ") + a;
    error = "--run: the inputs hold runs of several apps (" + names + "); name one with --app";
    return nullptr;
  }
  const auto count = static_cast<int>(runs.size());
  const int at = n > 0 ? n - 1 : count - 1 + n;  // 1 the first; 0 the last, -1 before it
  if (runs.empty() || at < 0 || at >= count) {
    error = fmt::format("--run {}: no such run ({} run{} in the inputs; see logcat runs)", n, count,
                        count == 1 ? "" : "s");
    return nullptr;
  }
  return &runs[static_cast<std::size_t>(at)];
}

int run_runs(Inputs& inputs, const std::vector<std::string>& apps, bool utc, bool json) {
  const std::vector<Run> runs = find_runs(inputs, apps);
  Output out;
  Text& t = out.buffer();
  if (json) {
    for (const Run& r : runs) {
      t += "{\"run\":";
      blackbox::text::append_int(r.index, t);
      blackbox::text::string_member("app", r.app, t);
      blackbox::text::string_member("host", r.host, t);
      blackbox::text::int_member("pid", r.pid, t);
      blackbox::text::int_member("start_ns", r.start_ns, t);
      blackbox::text::int_member("end_ns", r.running ? 0 : r.end_ns, t);
      blackbox::text::string_member("ended", r.how, t);
      blackbox::text::int_member("records", r.records, t);
      blackbox::text::int_member("lost", r.lost, t);
      if (r.wrapper_pid != 0) blackbox::text::int_member("bbx_run_pid", r.wrapper_pid, t);
      t += "}\n";
    }
  } else {
    std::size_t app_width = 3;
    for (const Run& r : runs) app_width = std::max(app_width, r.app.size());
    t += fmt::format("{:>4}  {:<{}}  {:>7}  {:<23}  {:<23}  {:<18} {:>12} {:>8}\n", "RUN", "APP",
                     app_width, "PID", "START", "END", "ENDED", "RECORDS", "LOST");
    for (const Run& r : runs) {
      t += fmt::format("{:>4}  ", r.index);
      Text name(64);  // an app name is untrusted text
      append_printable(r.app, name);
      t += name.view();
      t.append(app_width > name.size() ? app_width - name.size() : 0, ' ');
      // How it ended may come from a record's text (bbx-run's): untrusted too.
      Text how(64);
      append_printable(r.how, how);
      t += fmt::format("  {:>7}  {:<23}  {:<23}  {:<18} {:>12} {:>8}\n", r.pid,
                       run_time(r.start_ns, utc), r.running ? "-" : run_time(r.end_ns, utc),
                       how.view(), r.records, r.lost);
      if (!out.commit()) break;
    }
  }
  out.flush();
  if (out.failed()) return 1;
  return inputs.damaged() ? 1 : 0;
}

}  // namespace logcat
