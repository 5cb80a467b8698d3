#include "export.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "json.hpp"
#include "spans.hpp"

namespace logcat {
namespace {

using blackbox::Record;

// ---- OTLP/JSON ----------------------------------------------------------------------------
// The protobuf JSON mapping with OTLP's own rules (opentelemetry-proto, docs/specification.md,
// "JSON Protobuf Encoding"): lowerCamelCase field names; 64-bit integers (timeUnixNano,
// intValue) as decimal strings; enums (severityNumber) as integers; traceId and spanId as
// lowercase hex, not base64. Fields at their default value are left out.

void otlp_key(std::string_view key, Text& out) {
  out += "{\"key\":";
  append_json_string(key, out);
  out += ",\"value\":";
}

void otlp_string_attribute(std::string_view key, std::string_view value, Text& out) {
  otlp_key(key, out);
  out += "{\"stringValue\":";
  append_json_string(value, out);
  out += "}}";
}

void otlp_int_attribute(std::string_view key, std::int64_t value, Text& out) {
  otlp_key(key, out);
  out += "{\"intValue\":\"";
  append_int(value, out);
  out += "\"}}";
}

// A template field as an AnyValue. OTLP has no unsigned integers: a u64 beyond int64 goes
// as its decimal text. Doubles that JSON cannot hold go as the mapping's "NaN" and
// "Infinity" strings.
void otlp_value(const blackbox::Value& v, Text& out) {
  const auto* i = std::get_if<std::int64_t>(&v);
  const auto* u = std::get_if<std::uint64_t>(&v);
  if (i != nullptr || (u != nullptr && *u <= INT64_MAX)) {
    out += "{\"intValue\":\"";
    append_int(i != nullptr ? *i : static_cast<std::int64_t>(*u), out);
    out += "\"}";
  } else if (const auto* d = std::get_if<double>(&v)) {
    out += "{\"doubleValue\":";
    if (std::isnan(*d)) {
      out += "\"NaN\"";
    } else if (std::isinf(*d)) {
      out += *d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    } else {
      out += fmt::format("{}", *d);
    }
    out += '}';
  } else if (const auto* b = std::get_if<bool>(&v)) {
    out += *b ? "{\"boolValue\":true}" : "{\"boolValue\":false}";
  } else {
    out += "{\"stringValue\":";
    append_json_string(plain_value(v), out);
    out += '}';
  }
}

void otlp_log_record(const Record& r, Text& out) {
  out += "{\"timeUnixNano\":\"";
  append_int(r.time_ns, out);
  out += "\",\"severityNumber\":";
  append_int(otel_severity(r.level), out);
  out += ",\"severityText\":\"";
  out += otel_severity_text(r.level);
  out += "\",\"body\":{\"stringValue\":";
  append_json_string(r.message, out);
  out += "},\"attributes\":[";
  // The template's fields under their names ("{}" by position: arg0, arg1, ...), then where
  // and on which thread, with the semantic conventions' names.
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    const blackbox::Field& f = r.fields[i];
    otlp_key(f.name.empty() ? "arg" + std::to_string(i) : f.name, out);
    otlp_value(f.value, out);
    out += "},";
  }
  otlp_string_attribute("log.record.uid", record_uid(r), out);
  out += ',';
  otlp_int_attribute("thread.id", r.tid, out);
  if (!r.thread_name.empty()) {
    out += ',';
    otlp_string_attribute("thread.name", r.thread_name, out);
  }
  if (!r.file.empty()) {
    out += ',';
    otlp_string_attribute("code.file.path", r.file, out);
  }
  if (r.line != 0) {
    out += ',';
    otlp_int_attribute("code.line.number", r.line, out);
  }
  if (!r.function.empty()) {
    out += ',';
    otlp_string_attribute("code.function.name", r.function, out);
  }
  out += ']';
  trace_members(r, "traceId", "spanId", out);
  out += '}';
}

class OtlpExporter final : public Exporter {
 public:
  OtlpExporter(ProcessLookup lookup, std::size_t batch)
      : lookup_(std::move(lookup)), batch_size_(batch) {}

  void add(const Record& r, Text& out) override {
    batch_.push_back(r);
    if (batch_.size() >= batch_size_) flush(out);
  }

  // One ExportLogsServiceRequest: a ResourceLogs per process, a ScopeLogs per tag (the
  // logger's name, as OpenTelemetry's log bridges name scopes), records in time order.
  void flush(Text& out) override {
    if (batch_.empty()) return;
    using Process = std::pair<std::int32_t, std::int64_t>;
    std::vector<Process> processes;  // in order of first appearance
    std::map<Process, std::vector<std::pair<std::string_view, std::vector<const Record*>>>> groups;
    for (const Record& r : batch_) {
      const Process p{r.pid, r.process_start_ns};
      auto [it, added] = groups.try_emplace(p);
      if (added) processes.push_back(p);
      auto& scopes = it->second;
      auto scope = std::find_if(scopes.begin(), scopes.end(),
                                [&](const auto& s) { return s.first == r.tag; });
      if (scope == scopes.end()) scope = scopes.insert(scope, {r.tag, {}});
      scope->second.push_back(&r);
    }
    out += "{\"resourceLogs\":[";
    for (std::size_t i = 0; i < processes.size(); ++i) {
      const auto& scopes = groups[processes[i]];
      const ProcessFacts facts = lookup_(*scopes.front().second.front());
      out += i == 0 ? "{\"resource\":{\"attributes\":[" : ",{\"resource\":{\"attributes\":[";
      if (!facts.app.empty()) {
        otlp_string_attribute("service.name", facts.app, out);
        out += ',';
      }
      otlp_int_attribute("process.pid", processes[i].first, out);
      if (!facts.host.empty()) {
        out += ',';
        otlp_string_attribute("host.name", facts.host, out);
      }
      out += "]},\"scopeLogs\":[";
      for (std::size_t s = 0; s < scopes.size(); ++s) {
        out += s == 0 ? "{\"scope\":{" : ",{\"scope\":{";
        if (!scopes[s].first.empty()) {
          out += "\"name\":";
          append_json_string(scopes[s].first, out);
        }
        out += "},\"logRecords\":[";
        for (std::size_t k = 0; k < scopes[s].second.size(); ++k) {
          if (k != 0) out += ',';
          otlp_log_record(*scopes[s].second[k], out);
        }
        out += "]}";
      }
      out += "]}";
    }
    out += "]}\n";
    batch_.clear();
  }

  void finish(Text& out) override { flush(out); }

 private:
  ProcessLookup lookup_;
  std::size_t batch_size_;
  std::vector<Record> batch_;
};

// ---- Chrome Trace Event Format --------------------------------------------------------------
// Timestamps are microseconds (with nanoseconds as three decimals) from the first record, so
// that a double holds them exactly; the first record's wall-clock time is in otherData.

// `time - since` in microseconds with three decimals; saturated (a damaged file's times can
// be anything).
void chrome_ts(std::int64_t time, std::int64_t since, Text& out) {
  std::int64_t ns = 0;
  if (__builtin_sub_overflow(time, since, &ns) || ns == INT64_MIN) {
    ns = time < since ? -INT64_MAX : INT64_MAX;
  }
  if (ns < 0) {
    out += '-';
    ns = -ns;
  }
  out += fmt::format("{}.{:03}", ns / 1000, ns % 1000);
}

class ChromeExporter final : public Exporter {
 public:
  explicit ChromeExporter(ProcessLookup lookup) : lookup_(std::move(lookup)) {}

  void add(const Record& r, Text& out) override {
    if (!started_) {
      started_ = true;
      origin_ns_ = r.time_ns;
      out += "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
    }
    name_tracks(r, out);
    if (r.has_trace) {
      const std::uint64_t span = span_number(r);
      if (const auto end = span_end(r)) {
        complete_event(r, span, *end, out);  // the end record is the span's event
        return;
      }
      note_open(r, span);
    }
    // The record itself: an instant event on its thread's track.
    separator(out);
    out += "{\"name\":";
    append_json_string(r.message, out);
    out += ",\"cat\":";
    append_json_string(r.tag, out);
    out += ",\"ph\":\"i\",\"s\":\"t\",\"ts\":";
    chrome_ts(r.time_ns, origin_ns_, out);
    int_member("pid", r.pid, out);
    int_member("tid", r.tid, out);
    out += ",\"args\":{\"level\":\"";
    out += blackbox::level_name(r.level);
    out += '"';
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      const blackbox::Field& f = r.fields[i];
      out += ',';
      append_json_string(f.name.empty() ? "arg" + std::to_string(i) : f.name, out);
      out += ':';
      append_json_value(f.value, out, /*exact_in_doubles=*/true);
    }
    trace_members(r, "trace_id", "span_id", out);
    out += "}}";
  }

  void flush(Text&) override {}

  // Spans that never ended (the process crashed, or is still inside them) are drawn from
  // their first record to the last thing known of them on that thread: a record of theirs,
  // or the end of a span inside them. Their end is unknown, so they are not drawn to the end
  // of the trace: a record's context alone (a TraceScope under an incoming traceparent)
  // looks the same, and on a server thread would stack such slices forever.
  void finish(Text& out) override {
    if (!started_) out += "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
    unended_events(out);
    out += "\n],\"otherData\":{\"origin_unix_nano\":\"";
    append_int(origin_ns_, out);
    out += "\",\"producer\":\"blackbox logcat\"}}\n";
  }

 private:
  // The spans started and not ended yet, bounded: contexts that never end (a TraceScope's
  // remote parent) stay here; past the bound, spans are named "(span)" and those that never
  // end are not drawn.
  static constexpr std::size_t kMaxOpen = 1 << 16;

  void separator(Text& out) {
    if (events_++ != 0) out += ",\n";
  }

  // Metadata events the first time a process or thread shows up: its track's name.
  void name_tracks(const Record& r, Text& out) {
    if (processes_.insert(r.pid).second) {
      const ProcessFacts facts = lookup_(r);
      separator(out);
      out += "{\"name\":\"process_name\",\"ph\":\"M\"";
      int_member("pid", r.pid, out);
      out += ",\"tid\":0,\"args\":{\"name\":";
      append_json_string(facts.app.empty()    ? fmt::format("pid {}", r.pid)
                         : facts.host.empty() ? facts.app
                                              : fmt::format("{} ({})", facts.app, facts.host),
                         out);
      out += "}}";
    }
    if (threads_.insert({r.pid, r.tid}).second) {
      separator(out);
      out += "{\"name\":\"thread_name\",\"ph\":\"M\"";
      int_member("pid", r.pid, out);
      int_member("tid", r.tid, out);
      out += ",\"args\":{\"name\":";
      append_json_string(r.thread_name.empty() ? fmt::format("thread {}", r.tid) : r.thread_name,
                         out);
      out += "}}";
    }
  }

  // A span seen and not ended yet: where it started, and the last time it is known to
  // have been running on that thread.
  struct OpenSpan {
    std::string name;
    std::int32_t pid = 0;
    std::uint32_t tid = 0;
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
    std::array<std::uint8_t, 16> trace{};
  };

  // An open span goes on at least 1 ns past a slice inside it ends. Equal ends would nest
  // too, but viewers add `ts + dur` in doubles of microseconds, and the rounding can put
  // the inner end past the outer (the DevTools engine then drops the inner slice).
  static void extend_past(OpenSpan& outer, std::int64_t inner_end_ns) {
    if (inner_end_ns < INT64_MAX) outer.last_ns = std::max(outer.last_ns, inner_end_ns + 1);
  }

  void note_open(const Record& r, std::uint64_t span) {
    if (const auto it = open_.find(span); it != open_.end()) {
      OpenSpan& open = it->second;
      if (open.pid == r.pid && open.tid == r.tid) open.last_ns = std::max(open.last_ns, r.time_ns);
      return;
    }
    // A record after its span's end (another thread kept its context) does not reopen it.
    if (open_.size() >= kMaxOpen || ended_.contains(span)) return;
    open_.emplace(span, OpenSpan{span_name(r), r.pid, r.tid, r.time_ns, r.time_ns, r.trace_id});
  }

  // A span as a complete event, written at its end record: it started `duration` earlier.
  void complete_event(const Record& r, std::uint64_t span, const SpanEnd& end, Text& out) {
    std::string name = "(span)";
    if (const auto it = open_.find(span); it != open_.end()) {
      name = std::move(it->second.name);
      open_.erase(it);
    }
    if (ended_.insert(span).second) {
      ended_order_.push_back(span);
      if (ended_order_.size() > kMaxOpen) {
        ended_.erase(ended_order_.front());
        ended_order_.pop_front();
      }
    }
    // A parent still open on this thread was running at least until now.
    if (const auto it = open_.find(end.parent); it != open_.end()) {
      OpenSpan& parent = it->second;
      if (parent.pid == r.pid && parent.tid == r.tid) extend_past(parent, r.time_ns);
    }
    const auto duration =
        static_cast<std::int64_t>(std::min<std::uint64_t>(end.duration_ns, INT64_MAX / 4));
    std::int64_t start = 0;
    if (__builtin_sub_overflow(r.time_ns, duration, &start)) start = INT64_MIN;
    slice(name, start, duration, 0, r.pid, r.tid, r.trace_id, span, end.parent, out);
  }

  // A span's complete event on its thread's track, lasting `to - from`. Its args end with
  // its parent (an ended span) or `"ended":false` (one that never ended).
  void slice(std::string_view name, std::int64_t start, std::int64_t to, std::int64_t from,
             std::int32_t pid, std::uint32_t tid, const std::array<std::uint8_t, 16>& trace,
             std::uint64_t span, std::optional<std::uint64_t> parent, Text& out) {
    separator(out);
    out += "{\"name\":";
    append_json_string(name, out);
    out += ",\"cat\":\"span\",\"ph\":\"X\",\"ts\":";
    chrome_ts(start, origin_ns_, out);
    out += ",\"dur\":";
    chrome_ts(to, from, out);
    int_member("pid", pid, out);
    int_member("tid", tid, out);
    out += ",\"args\":{\"trace_id\":\"";
    append_hex(trace.data(), 16, out);
    out += fmt::format("\",\"span_id\":\"{:016x}\"", span);
    out += parent ? fmt::format(",\"parent_span_id\":\"{:016x}\"}}}}", *parent)
                  : std::string(",\"ended\":false}}");
  }

  // The spans never ended, per thread in start order. A slice that begins inside another's
  // is inside it: the outer one lasts at least as long as the inner (a sweep with a stack
  // of the slices open at each start), so the slices nest as the trace viewers require.
  // A span that never ended is also still open when a later one of its trace starts on its
  // thread (a thread's spans end in the reverse of their start order), as in the text
  // tree; another trace's context may have been left without a record.
  void unended_events(Text& out) {
    std::map<std::pair<std::int32_t, std::uint32_t>,
             std::vector<std::pair<std::uint64_t, OpenSpan*>>>
        by_thread;
    for (auto& [span, open] : open_) by_thread[{open.pid, open.tid}].emplace_back(span, &open);
    for (auto& [thread, spans] : by_thread) {
      std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
        return std::pair(a.second->first_ns, a.first) < std::pair(b.second->first_ns, b.first);
      });
      std::vector<OpenSpan*> stack;
      const auto pop = [&stack] {
        const OpenSpan* inner = stack.back();
        stack.pop_back();
        if (!stack.empty()) extend_past(*stack.back(), inner->last_ns);
      };
      for (auto& [span, open] : spans) {
        while (!stack.empty() && stack.back()->last_ns < open->first_ns &&
               stack.back()->trace != open->trace) {
          pop();
        }
        stack.push_back(open);
      }
      while (!stack.empty()) pop();
      for (const auto& [span, open] : spans) {
        slice(open->name, open->first_ns, open->last_ns, open->first_ns, open->pid, open->tid,
              open->trace, span, std::nullopt, out);
      }
    }
  }

  ProcessLookup lookup_;
  bool started_ = false;
  std::int64_t origin_ns_ = 0;
  std::size_t events_ = 0;
  std::set<std::int32_t> processes_;
  std::set<std::pair<std::int32_t, std::uint32_t>> threads_;
  std::unordered_map<std::uint64_t, OpenSpan> open_;  // started, not ended yet
  std::unordered_set<std::uint64_t> ended_;           // the last kMaxOpen spans ended
  std::deque<std::uint64_t> ended_order_;             // ... oldest first
};

}  // namespace

std::string record_uid(const Record& r) {
  return fmt::format("{}-{}-{}-{}", r.pid, r.process_start_ns, r.slot, r.sequence);
}

std::unique_ptr<Exporter> make_otlp_exporter(ProcessLookup lookup, std::size_t batch) {
  return std::make_unique<OtlpExporter>(std::move(lookup), batch);
}

std::unique_ptr<Exporter> make_chrome_exporter(ProcessLookup lookup) {
  return std::make_unique<ChromeExporter>(std::move(lookup));
}

}  // namespace logcat
