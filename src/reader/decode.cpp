// Record arguments back into typed values and the formatted message.
#include "reader/decode.hpp"

#include <fmt/format.h>

#include <cstring>
#include <iterator>

#include "ring/layout.hpp"

namespace blackbox::reader {
namespace {

using detail::ArgType;

template <typename T>
T load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// Formats `value` with the placeholder's fmt spec ("{:...}"), exactly as fmt::format would
// at the call site. A spec fmt rejects (only possible in a damaged file) is shown inline.
template <typename T>
void format_one(std::string& out, const std::string& spec, const T& value) {
  try {
    fmt::format_to(std::back_inserter(out), fmt::runtime(spec), value);
  } catch (const fmt::format_error& e) {
    out += "{bad spec: ";
    out += e.what();
    out += "}";
  }
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '.'; }

}  // namespace

bool parse_template(const std::string& text, SiteInfo& out) {
  out.literals.assign(1, std::string());
  out.names.clear();
  out.specs.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out.literals.back().push_back(c);
      ++i;
      continue;
    }
    if (c == '}') return false;
    if (c != '{') {
      out.literals.back().push_back(c);
      continue;
    }
    std::size_t j = i + 1;
    if (j < text.size() && is_name_start(text[j])) {
      while (j < text.size() && is_name_char(text[j])) ++j;
    }
    const std::string name = text.substr(i + 1, j - i - 1);
    if (j >= text.size()) return false;
    std::string spec = "{";
    if (text[j] == ':') {
      const std::size_t close = text.find('}', j);
      if (close == std::string::npos) return false;
      const std::string inner = text.substr(j, close - j);
      if (inner.find('{') != std::string::npos) return false;
      spec += inner;
      j = close;
    } else if (text[j] != '}') {
      return false;
    }
    spec += "}";
    out.names.push_back(name);
    out.specs.push_back(std::move(spec));
    out.literals.emplace_back();
    i = j;
  }
  return true;
}

std::size_t parse_site_entry(const std::byte* data, std::size_t available, SiteInfo& out,
                             std::string& error) {
  ring::SiteEntry e;
  if (available < sizeof e) {
    error = "site entry header runs past the site table";
    return 0;
  }
  std::memcpy(&e, data, sizeof e);
  const std::uint64_t need = std::uint64_t{sizeof e} + e.arg_count + e.tag_len + e.file_len +
                             e.function_len + e.template_len;
  if (e.size % 8 != 0 || e.size < need || e.size > available) {
    error = "site entry size " + std::to_string(e.size) + " is inconsistent";
    return 0;
  }
  if (e.level > static_cast<std::uint8_t>(Level::fatal)) {
    error = "site entry level " + std::to_string(e.level) + " is unknown";
    return 0;
  }
  const std::byte* p = data + sizeof e;
  out.types.resize(e.arg_count);
  for (std::uint32_t i = 0; i < e.arg_count; ++i) {
    const auto t = static_cast<std::uint8_t>(p[i]);
    if (t == 0 || t > detail::kMaxArgType) {
      error = "site entry argument type " + std::to_string(t) + " is unknown";
      return 0;
    }
    out.types[i] = static_cast<ArgType>(t);
  }
  p += e.arg_count;
  auto take = [&p](std::size_t n) {
    std::string s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  };
  out.level = static_cast<Level>(e.level);
  out.line = e.line;
  out.tag = take(e.tag_len);
  out.file = take(e.file_len);
  out.function = take(e.function_len);
  out.message_template = take(e.template_len);
  out.template_ok =
      parse_template(out.message_template, out) && out.names.size() == out.types.size();
  return e.size;
}

bool decode_args(const SiteInfo& site, const std::byte* data, std::size_t size, Record& record) {
  record.fields.clear();
  record.fields.reserve(site.types.size());
  record.truncated = false;
  std::size_t offset = 0;
  std::string message;
  if (site.template_ok) message = site.literals[0];
  const std::string no_spec = "{}";  // a damaged template: show values plainly
  for (std::size_t i = 0; i < site.types.size(); ++i) {
    const ArgType type = site.types[i];
    Field field;
    if (site.template_ok) field.name = site.names[i];
    const std::string& spec = site.template_ok ? site.specs[i] : no_spec;
    const std::uint32_t fixed = detail::fixed_size(type);
    if (fixed != 0 && offset + fixed > size) return false;
    const std::byte* p = data + offset;
    if (!site.template_ok) message += i == 0 ? " [" : ", ";
    switch (type) {
      case ArgType::i8:
        field.value = std::int64_t{load<std::int8_t>(p)};
        format_one(message, spec, static_cast<signed char>(load<std::int8_t>(p)));
        break;
      case ArgType::i16:
        field.value = std::int64_t{load<std::int16_t>(p)};
        format_one(message, spec, load<std::int16_t>(p));
        break;
      case ArgType::i32:
        field.value = std::int64_t{load<std::int32_t>(p)};
        format_one(message, spec, load<std::int32_t>(p));
        break;
      case ArgType::i64:
        field.value = load<std::int64_t>(p);
        format_one(message, spec, load<std::int64_t>(p));
        break;
      case ArgType::u8:
        field.value = std::uint64_t{load<std::uint8_t>(p)};
        format_one(message, spec, static_cast<unsigned char>(load<std::uint8_t>(p)));
        break;
      case ArgType::u16:
        field.value = std::uint64_t{load<std::uint16_t>(p)};
        format_one(message, spec, load<std::uint16_t>(p));
        break;
      case ArgType::u32:
        field.value = std::uint64_t{load<std::uint32_t>(p)};
        format_one(message, spec, load<std::uint32_t>(p));
        break;
      case ArgType::u64:
        field.value = load<std::uint64_t>(p);
        format_one(message, spec, load<std::uint64_t>(p));
        break;
      case ArgType::f32:
        field.value = double{load<float>(p)};
        format_one(message, spec, load<float>(p));
        break;
      case ArgType::f64:
        field.value = load<double>(p);
        format_one(message, spec, load<double>(p));
        break;
      case ArgType::boolean:
        field.value = load<std::uint8_t>(p) != 0;
        format_one(message, spec, load<std::uint8_t>(p) != 0);
        break;
      case ArgType::character:
        field.value = load<char>(p);
        format_one(message, spec, load<char>(p));
        break;
      case ArgType::pointer:
        field.value = Pointer{load<std::uint64_t>(p)};
        format_one(
            message, spec,
            reinterpret_cast<const void*>(static_cast<std::uintptr_t>(load<std::uint64_t>(p))));
        break;
      case ArgType::string:
      case ArgType::formatted: {
        if (offset + 4 > size) return false;
        const auto word = load<std::uint32_t>(p);
        const std::uint32_t length = word & detail::kStringLengthMask;
        if (length > size - offset - 4) return false;
        std::string text(reinterpret_cast<const char*>(p + 4), length);
        field.truncated = (word & detail::kStringTruncated) != 0;
        record.truncated |= field.truncated;
        if (type == ArgType::formatted)
          message += text;  // its spec was applied when logged
        else
          format_one(message, spec, fmt::string_view(text));
        field.value = std::move(text);
        offset += 4 + length;
        break;
      }
    }
    offset += fixed;
    if (site.template_ok) message += site.literals[i + 1];
    record.fields.push_back(std::move(field));
  }
  if (!site.template_ok) {
    // A template that does not match its arguments (damaged file): show both.
    message = site.message_template + message + (site.types.empty() ? "" : "]");
  }
  if (offset > size) return false;
  record.message = std::move(message);
  return true;
}

}  // namespace blackbox::reader
