#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <unordered_map>

#include "blackbox/control.hpp"
#include "blackbox/detail/rate_limit.hpp"
#include "commands.hpp"
#include "control.hpp"
#include "render.hpp"

namespace logcat {
namespace {

constexpr const char* kCauses[] = {"?",       "overwritten", "corrupt",        "disk error",
                                   "no slot", "after exit",  "site table full"};
constexpr std::size_t kCauseCount = sizeof kCauses / sizeof kCauses[0];

std::string span_text(std::int64_t ns) {
  const double s = static_cast<double>(ns) / 1e9;
  if (s < 120) return fmt::format("{:.3f} s", s);
  if (s < 7200) return fmt::format("{:.1f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

template <typename Map>
std::vector<std::pair<typename Map::key_type, std::uint64_t>> by_count(const Map& m) {
  std::vector<std::pair<typename Map::key_type, std::uint64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return v;
}

}  // namespace

int run_stats(Inputs& inputs, bool utc) {
  std::uint64_t total = 0;
  std::uint64_t levels[6] = {};
  std::int64_t first = 0, last = 0;
  std::map<std::string, std::uint64_t> tags;
  // Per site object first (cheap); grouped by their text at the end (one call site appears
  // once per archive file and ring).
  std::unordered_map<const void*, std::uint64_t> site_counts;
  std::unordered_map<const void*, Record> site_example;
  std::map<std::pair<std::int32_t, std::uint32_t>, std::uint64_t> threads;
  std::map<std::pair<std::int32_t, std::uint32_t>, std::string> thread_names;
  std::vector<std::int64_t> times;  // for the histogram: one per record, sampled if huge
  // What rate limits suppressed, per site, from their report records.
  const std::string_view report_template = blackbox::detail::kRateLimitReport;
  std::map<std::string, std::uint64_t> suppressed;
  std::set<std::pair<std::int32_t, std::int64_t>> processes;  // whose records were read
  std::uint64_t stride = 1;
  inputs.read_all([&](const Record& r) {
    if (total == 0) first = r.time_ns;
    last = r.time_ns;
    ++total;
    const auto level = static_cast<std::size_t>(r.level);
    if (level < 6) ++levels[level];
    ++tags[std::string(r.tag)];
    if (++site_counts[r.site_owner.get()] == 1) {
      Record& example = site_example[r.site_owner.get()];
      example.site_owner = r.site_owner;
      example.tag = r.tag;
      example.file = r.file;
      example.line = r.line;
      example.level = r.level;
      example.message_template = r.message_template;
    }
    const std::pair key{r.pid, r.tid};
    if (++threads[key] == 1) thread_names[key] = r.thread_name;
    processes.emplace(r.pid, r.process_start_ns);
    if (r.message_template == report_template && r.fields.size() == 3) {
      const auto* n = std::get_if<std::uint64_t>(&r.fields[0].value);
      const auto* site = std::get_if<std::string>(&r.fields[1].value);
      if (n != nullptr && site != nullptr) {
        suppressed[fmt::format("{:<8} {}", r.tag, *site)] += *n;
      }
    }
    // Keep at most ~1M times: every stride-th, the stride doubling as needed.
    if (total % stride == 0) {
      times.push_back(r.time_ns);
      if (times.size() >= (1u << 20)) {
        std::vector<std::int64_t> half;
        for (std::size_t i = 1; i < times.size(); i += 2) half.push_back(times[i]);
        times.swap(half);
        stride *= 2;
      }
    }
    return true;
  });

  std::string out;
  auto line = [&out](const std::string& s) { out += s + '\n'; };
  const auto files = inputs.archive_files();
  const auto rings = inputs.rings();
  line(fmt::format("records     {} from {} archive file(s) and {} ring file(s)", total,
                   files.size(), rings.size()));
  if (total != 0) {
    line(fmt::format("time        {} .. {} ({})", clock_text(first, utc), clock_text(last, utc),
                     span_text(last - first)));
  }
  std::string level_line = "levels     ";
  for (std::size_t l = 0; l < 6; ++l) {
    level_line += fmt::format(" {}:{}", level_letter(static_cast<blackbox::Level>(l)), levels[l]);
  }
  line(level_line);
  line("");
  line("tags (records)");
  for (const auto& [tag, n] : by_count(tags)) line(fmt::format("  {:>12}  {}", n, tag));

  std::map<std::string, std::uint64_t> sites;
  for (const auto& [owner, n] : site_counts) {
    const Record& e = site_example.at(owner);
    sites[fmt::format("{} {:<8} {}:{} \"{}\"", level_letter(e.level), e.tag, e.file, e.line,
                      e.message_template)] += n;
  }
  line("");
  line("top call sites (records, share)");
  std::size_t shown = 0;
  for (const auto& [site, n] : by_count(sites)) {
    if (++shown > 15) {
      line(fmt::format("  ... {} more call sites", sites.size() - 15));
      break;
    }
    line(fmt::format("  {:>12}  {:5.1f}%  {}", n,
                     100.0 * static_cast<double>(n) / static_cast<double>(total), site));
  }
  line("");
  line("top threads (records)");
  shown = 0;
  for (const auto& [key, n] : by_count(threads)) {
    if (++shown > 10) {
      line(fmt::format("  ... {} more threads", threads.size() - 10));
      break;
    }
    line(fmt::format("  {:>12}  pid {} tid {} {}", n, key.first, key.second, thread_names[key]));
  }

  line("");
  std::uint64_t lost[kCauseCount] = {};
  std::uint64_t lost_total = 0;
  for (const auto& loss : inputs.losses()) {
    const auto cause = static_cast<std::size_t>(loss.cause);
    lost[cause < kCauseCount ? cause : 0] += loss.records;
    lost_total += loss.records;
  }
  std::string loss_line = fmt::format("lost        {} records", lost_total);
  for (std::size_t c = 1; c < kCauseCount; ++c) {
    if (lost[c] != 0) loss_line += fmt::format(", {} {}", lost[c], kCauses[c]);
  }
  line(loss_line);
  const auto damage = inputs.damage();
  line(fmt::format("damaged     {} range(s)", damage.size()));
  for (const auto& d : damage) {
    line(fmt::format("  {} at offset {}, {} bytes: {}", d.file, d.offset, d.length, d.reason));
  }

  if (!suppressed.empty()) {
    line("");
    line("rate limited (records suppressed, per call site, from the limits' reports)");
    for (const auto& [site, n] : by_count(suppressed)) line(fmt::format("  {:>12}  {}", n, site));
  }

  // The failure budget: each process's latest telemetry (a ring's, else its archive's last
  // telemetry frame), by cause, over the run and the last minute.
  std::map<std::pair<std::int32_t, std::int64_t>, std::pair<std::string, blackbox::Telemetry>>
      budgets;
  std::map<std::pair<std::int32_t, std::int64_t>, std::int64_t> budget_time;
  for (const auto& f : files) {
    if (!f.telemetry) continue;
    const std::pair key{f.pid, f.process_start_ns};
    if (auto it = budget_time.find(key); it != budget_time.end() && it->second >= f.telemetry_ns) {
      continue;
    }
    budget_time[key] = f.telemetry_ns;
    budgets[key] = {
        fmt::format("pid {} ({}) as of {}", f.pid, f.app, clock_text(f.telemetry_ns, utc, true)),
        *f.telemetry};
  }
  for (const auto& ring : rings) {
    if (ring.path.empty()) continue;
    if (auto t = blackbox::read_telemetry(ring.path); t && t->updated_ns != 0) {
      budgets[{ring.pid, ring.start_time_ns}] = {
          fmt::format("pid {} ({}) as of {}", ring.pid, ring.app,
                      clock_text(t->updated_ns, utc, true)),
          *t};
    }
  }
  for (const auto& [key, who_and_t] : budgets) {
    if (!processes.contains(key)) continue;  // a ring in the directory, not among the inputs
    line("");
    line(fmt::format("losses and the failure budget of {}", who_and_t.first));
    out += budget_lines(who_and_t.second, utc, "  ");
  }

  // The rate over time: 20 rows, a bar each, scaled to the busiest.
  if (total != 0) {
    line("");
    line("rate over time (records/s)");
    constexpr std::size_t kRows = 20;
    const std::int64_t span = std::max<std::int64_t>(last - first, 1);
    std::uint64_t counts[kRows] = {};
    for (const std::int64_t t : times) {
      const auto row = static_cast<std::size_t>(static_cast<double>(t - first) /
                                                static_cast<double>(span) * kRows);
      counts[std::min(row, kRows - 1)] += stride;
    }
    const std::uint64_t most = *std::max_element(std::begin(counts), std::end(counts));
    const double row_seconds = static_cast<double>(span) / 1e9 / kRows;
    for (std::size_t row = 0; row < kRows; ++row) {
      const auto width =
          static_cast<std::size_t>(most == 0 ? 0 : (counts[row] * 50 + most - 1) / most);
      const std::int64_t at = first + static_cast<std::int64_t>(static_cast<double>(span) / kRows *
                                                                static_cast<double>(row));
      line(fmt::format("  {}  {:<50} {:.0f}", clock_text(at, utc).substr(11),
                       std::string(width, '#'),
                       static_cast<double>(counts[row]) / std::max(row_seconds, 1e-9)));
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return inputs.damaged() ? 1 : 0;
}

}  // namespace logcat
