// Span records as people read them (blackbox/text.hpp): names, durations and the flat view's
// wording of an end record, shared by logcat and the console.
#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "blackbox/text.hpp"

namespace blackbox::text {
namespace {

constexpr std::string_view kEndTemplate =
    "span ended after {duration_ns} ns (parent {parent:016x})";
constexpr std::string_view kStartTemplate = "span {span} started";

// How far a start record's time may be from the end's time less the measured duration: the
// duration was converted from clock ticks by the writer, the times by the reader, each with
// the clock calibration of its moment (recalibrated about once a second: some parts per
// million apart), and each rounded to the nanosecond.
std::int64_t start_tolerance_ns(std::uint64_t duration_ns) {
  return 1'000 + static_cast<std::int64_t>(duration_ns >> 12);
}

}  // namespace

std::string human_duration(std::uint64_t ns) {
  // Three significant digits; a unit's range ends where its value would round to 1000
  // (999.5 of it), else 999,600 µs prints as "1e+03 ms" instead of "1 s".
  if (ns < 1'000) return fmt::format("{} ns", ns);
  if (ns < 999'500) return fmt::format("{:.3g} µs", static_cast<double>(ns) / 1e3);
  if (ns < 999'500'000) return fmt::format("{:.3g} ms", static_cast<double>(ns) / 1e6);
  return fmt::format("{:.3f} s", static_cast<double>(ns) / 1e9);
}

std::string span_end_text(std::string_view name, std::uint64_t duration_ns) {
  return fmt::format("end of {} after {}", name, human_duration(duration_ns));
}

std::uint64_t span_number(const Record& r) {
  std::uint64_t v = 0;
  for (const std::uint8_t b : r.span_id) v = v << 8 | b;
  return v;
}

std::string span_name(const Record& start) {
  // Span's template, alone or followed by its fields (" order={order}"...).
  const std::string_view t = start.message_template;
  const bool library_start = t.starts_with(kStartTemplate) &&
                             (t.size() == kStartTemplate.size() || t[kStartTemplate.size()] == ' ');
  if (start.tag == "span" && library_start && !start.fields.empty() &&
      start.fields[0].name == "span") {
    if (const auto* name = std::get_if<std::string>(&start.fields[0].value)) return *name;
  }
  return start.message;
}

std::optional<std::string> SpanWording::end_text(const Record& r) {
  if (!r.has_trace) return std::nullopt;
  const std::uint64_t id = span_number(r);
  if (r.tag == "span" && r.message_template == kEndTemplate) {
    // "span ended after N ns (parent P)": the duration from the message (no fields needed).
    constexpr std::string_view kHead = "span ended after ";
    std::uint64_t ns = 0;
    if (const auto* d =
            r.fields.empty() ? nullptr : std::get_if<std::uint64_t>(&r.fields[0].value)) {
      ns = *d;
    } else if (r.message.starts_with(kHead)) {
      const char* p = r.message.data() + kHead.size();
      std::from_chars(p, r.message.data() + r.message.size(), ns);
    }
    const auto it = first_.find(id);
    bool started_here = false;
    if (it != first_.end()) {
      std::int64_t start = 0;
      started_here = it->second.library_start ||
                     (ns <= static_cast<std::uint64_t>(INT64_MAX) &&
                      !__builtin_sub_overflow(r.time_ns, static_cast<std::int64_t>(ns), &start) &&
                      std::llabs(it->second.time_ns - start) <= start_tolerance_ns(ns));
    }
    std::string text = span_end_text(
        started_here ? it->second.name
                     : fmt::format("span {:016x} (its start is not among these records)", id),
        ns);
    if (it != first_.end()) first_.erase(it);
    return text;
  }
  if (first_.size() >= 1'000'000) first_.clear();  // spans that never ended: bounded memory
  if (!first_.contains(id)) {
    // Its first record here: its start, if its time says so at the end.
    FirstRecord first;
    first.name = span_name(r);
    first.time_ns = r.time_ns;
    first.library_start = r.tag == "span" && r.message_template.starts_with(kStartTemplate);
    if (first.library_start && r.fields.empty() && first.name.starts_with("span ")) {
      const std::size_t end = first.name.find(" started");
      first.name = first.name.substr(5, end == std::string::npos ? std::string::npos : end - 5);
    }
    first_.emplace(id, std::move(first));
  }
  return std::nullopt;
}

const Record& SpanWording::reword(const Record& r) {
  std::optional<std::string> end = end_text(r);
  if (!end) return r;
  reworded_ = r;
  reworded_.message = std::move(*end);
  return reworded_;
}

}  // namespace blackbox::text
