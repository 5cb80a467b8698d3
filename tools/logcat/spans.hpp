// Spans as logcat sees them: the library's span records (docs/format.md, "Span records")
// read back into a tree. A span's start is the first record with its span id; its end
// record ("span ended after {duration_ns} ns (parent {parent:016x})", tag "span") gives its
// duration and its parent. A span that never ended (its process crashed or is still in it)
// has no end record: its parent is taken to be the innermost span then open on the same
// thread (spans on one thread nest), or it is shown at the top of the trace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "blackbox/reader.hpp"

namespace logcat {

// A record's span id as a number (the 8 bytes big-endian, as traceparent writes them).
[[nodiscard]] std::uint64_t span_number(const blackbox::Record& r);

// What an end record says; nullopt for any other record (or one read without its fields).
struct SpanEnd {
  std::uint64_t duration_ns = 0;
  std::uint64_t parent = 0;  // 0: a root
};
[[nodiscard]] std::optional<SpanEnd> span_end(const blackbox::Record& r);

// The span's name from its start record: the `span {span} started` record's name, or the
// message of a BBX_SPAN start.
[[nodiscard]] std::string span_name(const blackbox::Record& start);

// "2.37 ms": a duration in human units (ns, µs, ms, s), three significant digits.
[[nodiscard]] std::string human_duration(std::uint64_t ns);

// "end of NAME after 2.37 ms": how an end record reads, in the tree and the flat view alike.
[[nodiscard]] std::string span_end_text(std::string_view name, std::uint64_t duration_ns);

// The flat view's span wording: remembers the names of the spans whose start records went
// by, and says an end record as the tree does. Works on records read without their fields
// (text output), from the messages.
class SpanWording {
 public:
  // nullopt for a record that is not a span's end; else its line's message.
  std::optional<std::string> end_text(const blackbox::Record& r);

 private:
  std::unordered_map<std::uint64_t, std::string> names_;
};

struct SpanNode {
  std::uint64_t id = 0;
  std::uint64_t parent = 0;     // 0: none known (a root, or a parent not in the inputs)
  bool parent_guessed = false;  // no end record: the enclosing span on its thread
  std::string name;
  std::int32_t pid = 0;
  std::uint32_t tid = 0;
  std::int64_t start_ns = 0;           // its first record
  std::optional<std::int64_t> end_ns;  // its end record, if any
  std::optional<std::uint64_t> duration_ns;
  std::size_t first_record = 0;  // index of its start (its first record) in the records
  std::size_t records = 0;       // its own, end record included
  int depth = 0;                 // 0: top level
};

// The spans of one trace, from its records in time order.
class SpanTree {
 public:
  explicit SpanTree(const std::vector<blackbox::Record>& records);

  [[nodiscard]] const SpanNode* find(std::uint64_t id) const;
  [[nodiscard]] const std::vector<SpanNode>& spans() const { return spans_; }
  // Whether span `id` is `ancestor` or lies below it.
  [[nodiscard]] bool within(std::uint64_t id, std::uint64_t ancestor) const;
  // The span a record starts (its first record), else null.
  [[nodiscard]] const SpanNode* started_by(const blackbox::Record& r, std::size_t index) const;

 private:
  std::vector<SpanNode> spans_;  // in order of their first record
  std::unordered_map<std::uint64_t, std::size_t> by_id_;
};

}  // namespace logcat
