// logcat -F NAME and --fields: what values a field takes, and what fields there are, as
// journalctl's -F and -N. Read as little as the question needs: the call sites the archive
// files define (--fields), the chunk indexes (-F app), record headers without their
// arguments (-F tag, thread, level, pid), or only the chunks whose call sites have the
// field (-F NAME).
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "commands.hpp"
#include "render.hpp"

namespace logcat {
namespace {

// Whether the selection looks at records one by one (else whole files and rings answer).
bool record_level(const Selection& s) {
  const blackbox::ReadFilter& f = s.read;
  return f.min_level != Level::trace || f.since_ns != std::numeric_limits<std::int64_t>::min() ||
         f.until_ns != std::numeric_limits<std::int64_t>::max() || !f.tids.empty() || f.trace_id ||
         f.site || s.regex || !s.fields.empty() || s.span;
}

bool process_passes(const Selection& s, std::int32_t pid, std::int64_t start,
                    const std::string& app) {
  const blackbox::ReadFilter& f = s.read;
  return !(f.pid && pid != *f.pid) && !(f.process_start_ns && start != *f.process_start_ns) &&
         (f.apps.empty() || std::find(f.apps.begin(), f.apps.end(), app) != f.apps.end());
}

int print_counts(const std::map<std::string, std::uint64_t>& counts, Inputs& inputs) {
  std::vector<std::pair<std::string, std::uint64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  Output out;
  for (const auto& [value, count] : sorted) {
    out.buffer() += fmt::format("{:>12}  ", count);
    append_printable(value, out.buffer());
    out.buffer() += '\n';
    if (!out.commit()) break;
  }
  out.finish();
  if (out.failed()) return 1;
  return inputs.damaged() ? 1 : 0;
}

}  // namespace

void prepare_distinct(const std::string& name, Selection& selection) {
  selection.read.fields = false;
  selection.read.message = selection.regex != nullptr;
  if (!is_record_fact(name)) {
    selection.read.with_fields = {name};
    selection.read.fields = true;
  }
  if (!selection.fields.empty()) selection.read.fields = true;
}

bool is_record_fact(const std::string& name) {
  return name == "tag" || name == "thread" || name == "app" || name == "level" || name == "pid";
}

int run_distinct(Inputs& inputs, const Selection& selection, const std::string& name,
                 const ProcessLookup& process) {
  std::map<std::string, std::uint64_t> counts;
  if (name == "app" && !record_level(selection)) {
    // The chunk indexes count every file's records; the rings add what they alone hold.
    inputs.scan();
    for (const auto& f : inputs.archive_files()) {
      if (f.header_ok && process_passes(selection, f.pid, f.process_start_ns, f.app)) {
        counts[f.app] += f.records;
      }
    }
    for (const auto& [info, only, lost] : inputs.ring_counts()) {
      if (process_passes(selection, info.pid, info.start_time_ns, info.app)) {
        counts[info.app] += only.records;
      }
    }
    for (auto it = counts.begin(); it != counts.end();) {
      it = it->second == 0 ? counts.erase(it) : std::next(it);
    }
    return print_counts(counts, inputs);
  }
  // Per call site and thread first (cheap keys), named at the end.
  std::unordered_map<const void*, std::uint64_t> by_site;
  std::unordered_map<const void*, std::string> site_tag;
  std::map<std::pair<std::uint32_t, std::string>, std::uint64_t> by_thread;
  std::map<std::pair<std::int32_t, std::int64_t>, std::uint64_t> by_process;
  inputs.read_unordered([&](const Record& r) {
    if (name == "tag") {
      const void* key = r.site_owner.get();
      if (++by_site[key] == 1) site_tag[key] = std::string(r.tag);
    } else if (name == "thread") {
      ++by_thread[{r.tid, r.thread_name}];
    } else if (name == "level") {
      ++counts[std::string(blackbox::level_name(r.level))];
    } else if (name == "pid" || name == "app") {
      ++by_process[{r.pid, r.process_start_ns}];
    } else {
      for (const blackbox::Field& f : r.fields) {
        if (f.name == name) ++counts[plain_value(f.value)];
      }
    }
    return true;
  });
  for (const auto& [site, n] : by_site) counts[site_tag[site]] += n;
  for (const auto& [thread, n] : by_thread) {
    counts[fmt::format("{} {}", thread.first, thread.second)] += n;
  }
  for (const auto& [p, n] : by_process) {
    if (name == "pid") {
      counts[std::to_string(p.first)] += n;
    } else {
      Record r;
      r.pid = p.first;
      r.process_start_ns = p.second;
      counts[process(r).app] += n;
    }
  }
  return print_counts(counts, inputs);
}

int run_field_names(Inputs& inputs, const Selection& selection) {
  // Archives: the call sites their files define (no chunk read). Rings: their records.
  std::map<std::string, std::uint64_t> sites_with;  // name -> call sites that have it
  std::set<std::tuple<std::string, std::string, std::uint32_t, std::string>> seen;
  inputs.scan();
  for (const blackbox::CallSite& s : inputs.sites()) {
    const blackbox::ReadFilter& f = selection.read;
    if ((f.pid && s.pid != *f.pid) ||
        (!f.apps.empty() && std::find(f.apps.begin(), f.apps.end(), s.app) == f.apps.end()) ||
        s.level < f.min_level || (f.site && !f.site(s.tag, s.level))) {
      continue;
    }
    if (!seen.insert({s.tag, s.file, s.line, s.message_template}).second) continue;
    for (const std::string& n : std::set<std::string>(s.field_names.begin(), s.field_names.end())) {
      if (!n.empty()) ++sites_with[n];
    }
  }
  inputs.read_rings([&](const Record& r) {
    if (!selection.pass_read_filter(r)) return;
    if (!seen.insert(
                 {std::string(r.tag), std::string(r.file), r.line, std::string(r.message_template)})
             .second) {
      return;
    }
    std::set<std::string> names;
    for (const blackbox::Field& f : r.fields) {
      if (!f.name.empty()) names.insert(f.name);
    }
    for (const std::string& n : names) ++sites_with[n];
  });
  Output out;
  for (const auto& [n, sites] : sites_with) {
    append_printable(n, out.buffer());
    out.buffer() += '\n';
  }
  out.finish();
  if (out.failed()) return 1;
  return inputs.damaged() ? 1 : 0;
}

}  // namespace logcat
