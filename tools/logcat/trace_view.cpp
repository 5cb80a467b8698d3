#include "trace_view.hpp"

#include <fmt/format.h>

#include <set>

#include "json.hpp"

namespace logcat {

void render_trace(const std::vector<blackbox::Record>& records, const SpanTree& tree,
                  std::optional<std::uint64_t> only_span,
                  const std::function<bool(const blackbox::Record&)>& shown, bool colour, bool utc,
                  Text& out) {
  const char* dim = colour ? "\x1b[2m" : "";
  const char* bold = colour ? "\x1b[1m" : "";
  const char* reset = colour ? "\x1b[0m" : "";
  // The summary line: what the view holds.
  std::size_t count = 0, spans = 0;
  std::set<std::int32_t> processes;
  std::int64_t first = 0, last = 0;
  for (const blackbox::Record& r : records) {
    if (!shown(r)) continue;
    if (count++ == 0) first = r.time_ns;
    last = r.time_ns;
    processes.insert(r.pid);
  }
  for (const SpanNode& s : tree.spans()) spans += !only_span || tree.within(s.id, *only_span);
  int base_depth = 0;
  out += bold;
  if (only_span) {
    const SpanNode* top = tree.find(*only_span);
    base_depth = top != nullptr ? top->depth : 0;
    out += fmt::format("span {:016x}", *only_span);
    if (top != nullptr) {
      out += " \"";
      append_printable(top->name, out);
      out += '"';
    }
  } else if (!records.empty() && records.front().has_trace) {
    out += "trace ";
    append_hex(records.front().trace_id.data(), 16, out);
  }
  out += reset;
  out += fmt::format(": {} span{}, {} record{}, {} process{}", spans, spans == 1 ? "" : "s", count,
                     count == 1 ? "" : "s", processes.size(), processes.size() == 1 ? "" : "es");
  if (count != 0) out += ", " + human_duration(static_cast<std::uint64_t>(last - first));
  out += '\n';

  Renderer clock(Format::text, false, utc);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const blackbox::Record& r = records[i];
    if (!shown(r)) continue;
    const SpanNode* span = r.has_trace ? tree.find(span_number(r)) : nullptr;
    clock.append_time(r.time_ns, false, out);
    out += ' ';
    out += level_letter(r.level);
    const std::string thread = fmt::format("{}:{}", r.pid, r.tid);
    out.append(thread.size() < 13 ? 14 - thread.size() : 1, ' ');
    out += thread;
    out += ' ';
    out += r.tag;
    out.append(r.tag.size() < 8 ? 9 - r.tag.size() : 1, ' ');
    // A span's start and end lines at its depth, the records inside it one deeper.
    const auto end = span_end(r);
    const bool starts = tree.started_by(r, i) != nullptr;
    const int depth =
        span != nullptr ? std::max(span->depth - base_depth, 0) + (end || starts ? 0 : 1) : 0;
    out.append(static_cast<std::size_t>(2 * depth), ' ');
    if (end && span != nullptr) {
      out += dim;
      append_printable(span_end_text(span->name, end->duration_ns), out);
      out += reset;
    } else if (starts) {
      out += bold;
      append_printable(r.message, out);
      out += reset;
      out += dim;
      out += fmt::format("  [span {:016x}, ", span->id);
      out += span->duration_ns ? human_duration(*span->duration_ns) : "no end record";
      if (span->parent_guessed) out += fmt::format(", inside {:016x}", span->parent);
      out += ']';
      out += reset;
    } else {
      append_printable(r.message, out);
    }
    out += '\n';
  }
}

}  // namespace logcat
