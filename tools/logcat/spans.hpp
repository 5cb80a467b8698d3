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
#include "blackbox/text.hpp"

namespace logcat {

// A record's span id, a span's name, durations and the flat view's end wording: the reader
// library's (blackbox/text.hpp), shared with the console.
using blackbox::text::human_duration;
using blackbox::text::span_end_text;
using blackbox::text::span_name;
using blackbox::text::span_number;
using blackbox::text::SpanWording;

// What an end record says; nullopt for any other record (or one read without its fields).
struct SpanEnd {
  std::uint64_t duration_ns = 0;
  std::uint64_t parent = 0;  // 0: a root
};
[[nodiscard]] std::optional<SpanEnd> span_end(const blackbox::Record& r);

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
