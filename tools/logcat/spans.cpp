#include "spans.hpp"

#include <fmt/format.h>

#include <map>
#include <string_view>
#include <utility>

namespace logcat {
namespace {

constexpr std::string_view kEndTemplate =
    "span ended after {duration_ns} ns (parent {parent:016x})";

}  // namespace

std::optional<SpanEnd> span_end(const blackbox::Record& r) {
  if (r.tag != "span" || r.message_template != kEndTemplate || r.fields.size() != 2) {
    return std::nullopt;
  }
  const auto* duration = std::get_if<std::uint64_t>(&r.fields[0].value);
  const auto* parent = std::get_if<std::uint64_t>(&r.fields[1].value);
  if (duration == nullptr || parent == nullptr) return std::nullopt;
  return SpanEnd{*duration, *parent};
}

SpanTree::SpanTree(const std::vector<blackbox::Record>& records) {
  for (std::size_t i = 0; i < records.size(); ++i) {
    const blackbox::Record& r = records[i];
    if (!r.has_trace) continue;
    const std::uint64_t id = span_number(r);
    auto [it, added] = by_id_.try_emplace(id, spans_.size());
    if (added) {
      SpanNode node;
      node.id = id;
      node.pid = r.pid;
      node.tid = r.tid;
      node.start_ns = r.time_ns;
      node.first_record = i;
      node.name = span_end(r) ? std::string("(its start is not in the inputs)") : span_name(r);
      spans_.push_back(std::move(node));
    }
    SpanNode& node = spans_[it->second];
    ++node.records;
    if (const auto end = span_end(r); end && !node.end_ns) {
      node.end_ns = r.time_ns;
      node.duration_ns = end->duration_ns;
      node.parent = end->parent;
      // The duration was measured by the span itself; its first record here may be later
      // than its start if the start record was lost. (Saturating: times from a damaged
      // file can be anything.)
      std::int64_t start = 0;
      if (end->duration_ns <= static_cast<std::uint64_t>(INT64_MAX) &&
          !__builtin_sub_overflow(r.time_ns, static_cast<std::int64_t>(end->duration_ns), &start)) {
        node.start_ns = std::min(node.start_ns, start);
      }
    }
  }
  // Spans that never ended: the innermost span open on the same thread when they started.
  // Only spans that started earlier (in first-record order) qualify, so guesses make no
  // cycle.
  std::map<std::pair<std::int32_t, std::uint32_t>, std::vector<std::size_t>> by_thread;
  for (std::size_t i = 0; i < spans_.size(); ++i) {
    SpanNode& node = spans_[i];
    std::vector<std::size_t>& earlier = by_thread[{node.pid, node.tid}];
    if (!node.end_ns) {
      const SpanNode* enclosing = nullptr;
      for (const std::size_t j : earlier) {
        const SpanNode& other = spans_[j];
        if (other.end_ns && *other.end_ns < node.start_ns) continue;  // over by then
        if (enclosing == nullptr || other.start_ns >= enclosing->start_ns) enclosing = &other;
      }
      if (enclosing != nullptr) {
        node.parent = enclosing->id;
        node.parent_guessed = true;
      }
    }
    earlier.push_back(i);
  }
  // Depths; a damaged file could make a cycle, so a walk stops after as many steps as spans.
  for (SpanNode& node : spans_) {
    int depth = 0;
    for (const SpanNode* p = find(node.parent);
         p != nullptr && depth < static_cast<int>(spans_.size()); p = find(p->parent)) {
      ++depth;
    }
    node.depth = depth;
  }
}

const SpanNode* SpanTree::find(std::uint64_t id) const {
  if (id == 0) return nullptr;
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &spans_[it->second];
}

bool SpanTree::within(std::uint64_t id, std::uint64_t ancestor) const {
  std::size_t steps = 0;
  for (const SpanNode* s = find(id); s != nullptr && steps <= spans_.size();
       s = find(s->parent), ++steps) {
    if (s->id == ancestor) return true;
  }
  return false;
}

const SpanNode* SpanTree::started_by(const blackbox::Record& r, std::size_t index) const {
  const SpanNode* span = r.has_trace ? find(span_number(r)) : nullptr;
  return span != nullptr && span->first_record == index ? span : nullptr;
}

}  // namespace logcat
