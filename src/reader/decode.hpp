// Decoding site definitions and record arguments, and formatting messages with fmt. Shared
// by every reader (rings now; archives later). Nothing it reads is trusted: every length is
// checked against the bytes actually present.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "blackbox/detail/record.hpp"
#include "blackbox/reader.hpp"
#include "format/site_entry.hpp"

namespace blackbox::reader {

// Site definitions are parsed by format/site_entry.hpp (the flusher parses them too).
using ring::parse_site_entry;
using ring::parse_template;
using ring::SiteInfo;

// Copies the site's facts (level, tag, file, function, template, line) into `record`; the
// views point into `site`, which `record.site_owner` must keep alive.
inline void apply_site(const SiteInfo& site, Record& record) {
  record.level = site.level;
  record.tag = site.tag;
  record.file = site.file;
  record.function = site.function;
  record.message_template = site.message_template;
  record.line = site.line;
}

// What every reader's read_sorted() does: poll everything, then a stable sort by time (a
// slot's or a file's own order is kept for equal times).
template <typename Reader>
std::vector<Record> read_sorted_by_time(Reader& reader) {
  std::vector<Record> out;
  reader.poll([&out](const Record& r) { out.push_back(r); });
  std::stable_sort(out.begin(), out.end(),
                   [](const Record& a, const Record& b) { return a.time_ns < b.time_ns; });
  return out;
}

// ReadFilter, shared by the readers. Site facts first (the caller caches the verdict per
// site), then the record's own; both before any argument is decoded.
inline bool site_passes(const ReadFilter& filter, const SiteInfo& site) {
  for (const std::string& name : filter.with_fields) {
    if (std::find(site.names.begin(), site.names.end(), name) == site.names.end()) return false;
  }
  return site.level >= filter.min_level && (!filter.site || filter.site(site.tag, site.level));
}

// Decodes a record's arguments as the filter asks: the fields, the message, both, or (for a
// reader that only counts) neither.
[[nodiscard]] bool decode_args(const SiteInfo& site, const std::byte* data, std::size_t size,
                               Record& record, bool fields);
// Whether the arguments in [data, data + size) are as the site's types say (each fixed
// value whole, each string inside), as decode_args() checks them; `truncated`: whether a
// string argument was cut at the call site.
[[nodiscard]] bool arguments_fit(const SiteInfo& site, const std::byte* data, std::size_t size,
                                 bool& truncated);

// Record::encoded, from inside: only the readers fill it, always with their SiteInfo.
struct EncodedArgsAccess {
  // Keeps the arguments undecoded in `record`, whose site_owner is their site (a SiteInfo).
  static void keep(Record& record, const std::byte* data, std::size_t size) {
    EncodedArgs& e = record.encoded;
    if (e.site_ != record.site_owner) e.site_ = record.site_owner;
    e.bytes_.assign(data, data + size);
    e.present_ = true;
  }
  static void clear(EncodedArgs& e) noexcept { e.present_ = false; }
  [[nodiscard]] static const SiteInfo& site(const EncodedArgs& e) noexcept {
    return *static_cast<const SiteInfo*>(e.site_.get());
  }
  [[nodiscard]] static const void* site_address(const EncodedArgs& e) noexcept {
    return e.site_.get();
  }
  [[nodiscard]] static const std::vector<std::byte>& bytes(const EncodedArgs& e) noexcept {
    return e.bytes_;
  }
};

inline bool decode_as_filtered(const ReadFilter& filter, const SiteInfo& site,
                               const std::byte* data, std::size_t size, Record& record) {
  if (filter.encoded) {
    if (!arguments_fit(site, data, size, record.truncated)) return false;
    record.fields.clear();
    record.message.clear();
    EncodedArgsAccess::keep(record, data, size);
    return true;
  }
  EncodedArgsAccess::clear(record.encoded);
  if (!filter.fields && !filter.message) {
    record.fields.clear();
    record.message.clear();
    record.truncated = false;
    return true;
  }
  return decode_args(site, data, size, record, filter.fields);
}
inline bool record_passes(const ReadFilter& filter, std::int64_t time_ns, std::uint32_t tid,
                          const std::uint8_t* trace /* null: none */) {
  if (time_ns < filter.since_ns || time_ns >= filter.until_ns) return false;
  if (!filter.tids.empty() &&
      std::find(filter.tids.begin(), filter.tids.end(), tid) == filter.tids.end()) {
    return false;
  }
  return !filter.trace_id ||
         (trace != nullptr && std::equal(filter.trace_id->begin(), filter.trace_id->end(), trace));
}

// The process facts of a ReadFilter (pid, run, app), for a whole file or ring at once.
inline bool process_passes(const ReadFilter& filter, std::int32_t pid, std::int64_t start_ns,
                           std::string_view app) {
  if (filter.pid && pid != *filter.pid) return false;
  if (filter.process_start_ns && start_ns != *filter.process_start_ns) return false;
  return filter.apps.empty() ||
         std::find(filter.apps.begin(), filter.apps.end(), app) != filter.apps.end();
}

// Decodes the arguments in [data, data + size) into `record.fields` (unless `fields` is
// false: then they are left empty) and formats `record.message`. Returns false if the bytes
// do not match the site's argument types.
// The same for a printf-style site (SiteInfo::printf_format, parsed).
[[nodiscard]] bool decode_printf_args(const SiteInfo& site, const std::byte* data, std::size_t size,
                                      Record& record, bool fields = true);

[[nodiscard]] bool decode_args(const SiteInfo& site, const std::byte* data, std::size_t size,
                               Record& record, bool fields = true);

}  // namespace blackbox::reader
