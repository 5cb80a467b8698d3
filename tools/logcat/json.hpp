// JSON output helpers for logcat's line formats and exports: the library's
// (blackbox/text.hpp), which the console shares.
#pragma once

#include <string>
#include <string_view>

#include "blackbox/text.hpp"
#include "render.hpp"

namespace logcat {

using blackbox::text::append_hex;
using blackbox::text::append_int;
using blackbox::text::append_json_string;
using blackbox::text::append_json_value;
using blackbox::text::append_logfmt_value;
using blackbox::text::hex;
using blackbox::text::int_member;
using blackbox::text::kJsonEscape;
using blackbox::text::otel_severity;
using blackbox::text::otel_severity_text;
using blackbox::text::plain_value;
using blackbox::text::string_member;
using blackbox::text::trace_members;

// `s` as a quoted JSON string.
inline std::string json_string(std::string_view s) {
  blackbox::text::Buffer b(s.size() + 8);
  blackbox::text::append_json_string(s, b);
  return std::string(b.view());
}

}  // namespace logcat
