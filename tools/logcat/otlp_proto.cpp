// OTLP/protobuf log records (otlp_proto.hpp). Field numbers are opentelemetry-proto's.
#include "otlp_proto.hpp"

#include <array>
#include <cstdlib>
#include <protozero/exception.hpp>
#include <protozero/pbf_reader.hpp>
#include <protozero/pbf_writer.hpp>
#include <variant>

#include "json.hpp"

namespace logcat {
namespace {

using blackbox::Record;
using protozero::pbf_writer;

// ExportLogsServiceRequest
constexpr protozero::pbf_tag_type kResourceLogs = 1;
// ResourceLogs
constexpr protozero::pbf_tag_type kResource = 1, kScopeLogs = 2;
// Resource, KeyValue
constexpr protozero::pbf_tag_type kResourceAttributes = 1, kKey = 1, kValue = 2;
// ScopeLogs, InstrumentationScope
constexpr protozero::pbf_tag_type kScope = 1, kLogRecords = 2, kScopeName = 1;
// LogRecord
constexpr protozero::pbf_tag_type kTime = 1, kSeverityNumber = 2, kSeverityText = 3, kBody = 5,
                                  kAttributes = 6, kTraceId = 9, kSpanId = 10;
// AnyValue
constexpr protozero::pbf_tag_type kStringValue = 1, kBoolValue = 2, kIntValue = 3, kDoubleValue = 4;
// ExportLogsServiceResponse, ExportLogsPartialSuccess
constexpr protozero::pbf_tag_type kPartialSuccess = 1, kRejected = 1, kErrorMessage = 2;

// protozero 1.7 takes a pointer and a size, not a string_view.
void add_text(pbf_writer& w, protozero::pbf_tag_type tag, std::string_view text) {
  w.add_string(tag, text.data(), text.size());
}

void string_attribute(pbf_writer& parent, protozero::pbf_tag_type tag, std::string_view key,
                      std::string_view value) {
  pbf_writer kv(parent, tag);
  add_text(kv, kKey, key);
  pbf_writer v(kv, kValue);
  add_text(v, kStringValue, value);
}

void int_attribute(pbf_writer& parent, protozero::pbf_tag_type tag, std::string_view key,
                   std::int64_t value) {
  pbf_writer kv(parent, tag);
  add_text(kv, kKey, key);
  pbf_writer v(kv, kValue);
  v.add_int64(kIntValue, value);
}

// A template field as an AnyValue, as -o otlp maps it: integers that fit int64 as int_value
// (OTLP has no unsigned integers: beyond int64, the decimal text), doubles, booleans, the
// rest as text.
void field_attribute(pbf_writer& lr, std::string_view key, const blackbox::Value& value) {
  pbf_writer kv(lr, kAttributes);
  add_text(kv, kKey, key);
  pbf_writer v(kv, kValue);
  const auto* i = std::get_if<std::int64_t>(&value);
  const auto* u = std::get_if<std::uint64_t>(&value);
  if (i != nullptr || (u != nullptr && *u <= INT64_MAX)) {
    v.add_int64(kIntValue, i != nullptr ? *i : static_cast<std::int64_t>(*u));
  } else if (const auto* d = std::get_if<double>(&value)) {
    v.add_double(kDoubleValue, *d);
  } else if (const auto* b = std::get_if<bool>(&value)) {
    v.add_bool(kBoolValue, *b);
  } else {
    std::array<char, 40> room;
    add_text(v, kStringValue, plain_value(value, room));
  }
}

void encode_log_record(const Record& r, std::string& out) {
  pbf_writer lr(out);
  lr.add_fixed64(kTime, static_cast<std::uint64_t>(r.time_ns));
  lr.add_enum(kSeverityNumber, otel_severity(r.level));
  add_text(lr, kSeverityText, otel_severity_text(r.level));
  {
    pbf_writer body(lr, kBody);
    add_text(body, kStringValue, r.message);
  }
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    const blackbox::Field& f = r.fields[i];
    field_attribute(lr, f.name.empty() ? "arg" + std::to_string(i) : f.name, f.value);
  }
  string_attribute(lr, kAttributes, "log.record.uid", record_uid(r));
  int_attribute(lr, kAttributes, "thread.id", r.tid);
  if (!r.thread_name.empty()) string_attribute(lr, kAttributes, "thread.name", r.thread_name);
  if (!r.file.empty()) string_attribute(lr, kAttributes, "code.file.path", r.file);
  if (r.line != 0) int_attribute(lr, kAttributes, "code.line.number", r.line);
  if (!r.function.empty()) string_attribute(lr, kAttributes, "code.function.name", r.function);
  if (r.has_trace) {
    lr.add_bytes(kTraceId, reinterpret_cast<const char*>(r.trace_id.data()), r.trace_id.size());
    lr.add_bytes(kSpanId, reinterpret_cast<const char*>(r.span_id.data()), r.span_id.size());
  }
}

}  // namespace

void OtlpProtoBatch::add(const Record& r, const ProcessFacts& process) {
  // Records come in runs of one process and tag: the last group is tried first.
  Resource* resource = nullptr;
  for (auto it = resources_.rbegin(); it != resources_.rend(); ++it) {
    if (it->pid == r.pid && it->start_ns == r.process_start_ns) {
      resource = &*it;
      break;
    }
  }
  if (resource == nullptr) {
    resource = &resources_.emplace_back(Resource{r.pid, r.process_start_ns, process, {}});
  }
  Scope* scope = nullptr;
  for (auto it = resource->scopes.rbegin(); it != resource->scopes.rend(); ++it) {
    if (it->name == r.tag) {
      scope = &*it;
      break;
    }
  }
  if (scope == nullptr) scope = &resource->scopes.emplace_back(Scope{std::string(r.tag), {}, {}});
  const std::size_t before = scope->records.size();
  encode_log_record(r, scope->records);
  scope->ends.push_back(static_cast<std::uint32_t>(scope->records.size()));
  bytes_ += scope->records.size() - before;
}

void OtlpProtoBatch::encode(std::string& out) const {
  pbf_writer request(out);
  for (const Resource& resource : resources_) {
    pbf_writer rl(request, kResourceLogs);
    {
      pbf_writer res(rl, kResource);
      if (!resource.facts.app.empty()) {
        string_attribute(res, kResourceAttributes, "service.name", resource.facts.app);
      }
      int_attribute(res, kResourceAttributes, "process.pid", resource.pid);
      if (!resource.facts.host.empty()) {
        string_attribute(res, kResourceAttributes, "host.name", resource.facts.host);
      }
    }
    for (const Scope& scope : resource.scopes) {
      pbf_writer sl(rl, kScopeLogs);
      {
        pbf_writer s(sl, kScope);
        if (!scope.name.empty()) add_text(s, kScopeName, scope.name);
      }
      std::uint32_t begin = 0;
      for (const std::uint32_t end : scope.ends) {
        sl.add_message(kLogRecords, scope.records.data() + begin, end - begin);
        begin = end;
      }
    }
  }
}

void OtlpProtoBatch::clear() {
  resources_.clear();
  bytes_ = 0;
}

bool parse_otlp_response(std::string_view body, bool json, std::uint64_t& rejected,
                         std::string& message) {
  rejected = 0;
  message.clear();
  if (json) {
    // {"partialSuccess":{"rejectedLogRecords":"12","errorMessage":"..."}}: the int64 may be a
    // string or a number (the protobuf JSON mapping reads both).
    const std::size_t at = body.find("\"rejectedLogRecords\"");
    if (at != std::string_view::npos) {
      std::size_t i = at + 20;
      while (i < body.size() && (body[i] == ' ' || body[i] == ':' || body[i] == '"')) ++i;
      const std::string digits(body.substr(i, body.find_first_not_of("0123456789", i) - i));
      if (digits.empty()) return false;
      rejected = std::strtoull(digits.c_str(), nullptr, 10);
    }
    const std::size_t m = body.find("\"errorMessage\"");
    if (m != std::string_view::npos) {
      const std::size_t open = body.find('"', body.find(':', m) + 1);
      std::size_t close = open == std::string_view::npos ? open : open + 1;
      while (close < body.size() && body[close] != '"') close += body[close] == '\\' ? 2 : 1;
      if (close >= body.size()) return false;
      message = std::string(body.substr(open + 1, close - open - 1));
    }
    return true;
  }
  try {
    protozero::pbf_reader response(body.data(), body.size());
    while (response.next()) {
      if (response.tag() != kPartialSuccess ||
          response.wire_type() != protozero::pbf_wire_type::length_delimited) {
        response.skip();
        continue;
      }
      protozero::pbf_reader partial = response.get_message();
      while (partial.next()) {
        if (partial.tag() == kRejected && partial.wire_type() == protozero::pbf_wire_type::varint) {
          rejected = static_cast<std::uint64_t>(partial.get_int64());
        } else if (partial.tag() == kErrorMessage &&
                   partial.wire_type() == protozero::pbf_wire_type::length_delimited) {
          message = partial.get_string();
        } else {
          partial.skip();
        }
      }
    }
  } catch (const protozero::exception&) {
    return false;
  }
  return true;
}

}  // namespace logcat
