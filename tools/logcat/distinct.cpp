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
      if (f.header_ok && selection.pass_process(f.pid, f.process_start_ns, f.app)) {
        counts[f.app] += f.records;
      }
    }
    for (const auto& [info, only, lost] : inputs.ring_counts()) {
      if (selection.pass_process(info.pid, info.start_time_ns, info.app)) {
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
  std::set<std::string> names;
  inputs.scan();
  const blackbox::ReadFilter& f = selection.read;
  for (const blackbox::CallSite& s : inputs.sites()) {
    if (!selection.pass_process(s.pid, std::nullopt, s.app) || s.level < f.min_level ||
        (f.site && !f.site(s.tag, s.level))) {
      continue;
    }
    names.insert(s.field_names.begin(), s.field_names.end());
  }
  inputs.read_rings([&](const Record& r) {
    if (!selection.pass_read_filter(r)) return;
    for (const blackbox::Field& field : r.fields) names.insert(field.name);
  });
  names.erase("");  // printf-style and "{}" placeholders have no name
  Output out;
  for (const std::string& n : names) {
    append_printable(n, out.buffer());
    out.buffer() += '\n';
  }
  out.finish();
  if (out.failed()) return 1;
  return inputs.damaged() ? 1 : 0;
}

}  // namespace logcat
