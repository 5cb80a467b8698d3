// `logcat ship`'s destinations (destination.hpp): ClickHouse over HTTP, OTLP/HTTP.
#include "destination.hpp"

#include <httplib.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "json.hpp"
#include "otlp_proto.hpp"

namespace logcat {
namespace {

using blackbox::Record;

// SCHEME://HOST[:PORT][/PATH][?KEY=VALUE&...]
struct Url {
  std::string host;
  int port = 0;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
};

std::optional<Url> parse_url(std::string_view url, std::string_view scheme, int default_port,
                             std::string& error) {
  std::string_view rest = url.substr(scheme.size());
  const std::size_t end_of_authority = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, end_of_authority);
  rest = end_of_authority == std::string_view::npos ? std::string_view{}
                                                    : rest.substr(end_of_authority);
  Url u;
  u.port = default_port;
  const std::size_t colon = authority.rfind(':');
  u.host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) {
    const std::string port(authority.substr(colon + 1));
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p <= 0 || p > 65535) {
      error = "--to: bad port \"" + port + "\"";
      return std::nullopt;
    }
    u.port = static_cast<int>(p);
  }
  if (u.host.empty()) {
    error = "--to: no host in \"" + std::string(url) + "\"";
    return std::nullopt;
  }
  const std::size_t question = rest.find('?');
  u.path = std::string(rest.substr(0, question));
  std::string_view query =
      question == std::string_view::npos ? std::string_view{} : rest.substr(question + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    u.query.emplace_back(pair.substr(0, eq),
                         eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
  }
  return u;
}

// `in` as a gzip member (Content-Encoding: gzip). False if zlib failed.
bool gzip(std::string_view in, std::string& out) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

// `in` as one zstd frame (Content-Encoding: zstd), level 1. False if zstd failed.
bool zstd(std::string_view in, std::string& out) {
  out.resize(ZSTD_compressBound(in.size()));
  const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 1);
  if (ZSTD_isError(n) != 0) return false;
  out.resize(n);
  return true;
}

// One HTTP endpoint: a kept-alive connection, the body compressed as asked, the answer
// sorted into delivered, try again, or refused for good.
class Http {
 public:
  Http(const Url& url, const HttpOptions& options)
      : options_(options), client_(url.host, url.port) {
    const auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::duration<double>(options.timeout_s));
    client_.set_connection_timeout(timeout);
    client_.set_read_timeout(timeout);
    client_.set_write_timeout(timeout);
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);  // headers and body go in two writes: no Nagle wait between
    for (const std::string& h : options.headers) {
      const std::size_t colon = h.find(':');
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      headers_.emplace(h.substr(0, colon), value);
    }
    if (options.compress != "none") headers_.emplace("Content-Encoding", options.compress);
  }

  // POSTs `body` (compressed once per batch: `fresh` says the batch is new). `retryable`
  // says which error statuses are tried again; the answer's body is left in `answer`.
  Outcome post(const std::string& path, std::string_view body, bool fresh, const char* content_type,
               bool (*retryable)(int), std::string& answer, std::uint64_t& bytes_sent) {
    if (options_.compress != "none") {
      if (fresh || compressed_.empty()) {
        const bool ok =
            options_.compress == "gzip" ? gzip(body, compressed_) : zstd(body, compressed_);
        if (!ok) {
          compressed_.clear();
          return {Outcome::Kind::retry, options_.compress + " failed", -1, 0};
        }
      }
      body = compressed_;
    }
    bytes_sent += body.size();
    const auto res = client_.Post(path, headers_, body.data(), body.size(), content_type);
    if (!res) return {Outcome::Kind::retry, "HTTP: " + httplib::to_string(res.error()), -1, 0};
    answer = std::move(res->body);
    if (res->status >= 200 && res->status < 300) return {};
    Outcome o{Outcome::Kind::refused,
              "HTTP " + std::to_string(res->status) + ": " + answer.substr(0, 300), -1, 0};
    while (!o.what.empty() && (o.what.back() == '\n' || o.what.back() == ' ')) o.what.pop_back();
    if (retryable(res->status)) o.kind = Outcome::Kind::retry;
    if (res->has_header("Retry-After")) {
      const std::string v = res->get_header_value("Retry-After");
      char* end = nullptr;
      const double s = std::strtod(v.c_str(), &end);
      if (end != v.c_str() && *end == '\0' && s >= 0) o.retry_after_s = s;  // seconds form only
    }
    return o;
  }

 private:
  const HttpOptions& options_;
  httplib::Client client_;
  httplib::Headers headers_;
  std::string compressed_;
};

// ---- ClickHouse ------------------------------------------------------------------------------

// One record as a JSONEachRow row of docs/shipping.md's table.
void append_row(const Record& r, const ProcessFacts& process, Text& out) {
  out += "{\"time_ns\":";
  append_int(r.time_ns, out);
  out += ",\"level\":\"";
  out += blackbox::level_name(r.level);
  out += '"';
  int_member("severity", otel_severity(r.level), out);
  string_member("app", process.app, out);
  string_member("host", process.host, out);
  int_member("pid", r.pid, out);
  int_member("process_start_ns", r.process_start_ns, out);
  int_member("tid", r.tid, out);
  int_member("slot", r.slot, out);
  int_member("sequence", r.sequence, out);
  string_member("thread", r.thread_name, out);
  string_member("tag", r.tag, out);
  string_member("message", r.message, out);
  string_member("template", r.message_template, out);
  out += ",\"trace_id\":\"";
  if (r.has_trace) append_hex(r.trace_id.data(), 16, out);
  out += "\",\"span_id\":\"";
  if (r.has_trace) append_hex(r.span_id.data(), 8, out);
  out += '"';
  string_member("file", r.file, out);
  int_member("line", r.line, out);
  out += ",\"field_names\":[";
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    if (i != 0) out += ',';
    append_json_string(r.fields[i].name.empty() ? std::to_string(i) : r.fields[i].name, out);
  }
  out += "],\"field_values\":[";
  std::array<char, 40> room;
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    if (i != 0) out += ',';
    append_json_string(plain_value(r.fields[i].value, room), out);
  }
  out += "]}\n";
}

class ClickHouse final : public Destination {
 public:
  // `settings`: "&name=value..." for the URL.
  ClickHouse(const Url& url, const std::string& table, const std::string& settings,
             const HttpOptions& options)
      : http_(url, options),
        path_("/?query=" +
              httplib::detail::encode_query_param("INSERT INTO " + table + " FORMAT JSONEachRow") +
              settings) {}

  void add(const Record& r, const ProcessFacts& process) override {
    append_row(r, process, rows_);
    fresh_ = true;
  }
  [[nodiscard]] std::size_t bytes() const override { return rows_.size(); }
  Outcome send() override {
    std::string answer;
    Outcome o = http_.post(path_, rows_.view(), fresh_, "application/x-ndjson", retryable, answer,
                           bytes_sent_);
    fresh_ = false;
    return o;
  }
  void clear() override { rows_.clear(); }

 private:
  static bool retryable(int status) { return status == 429 || status >= 500; }
  Http http_;
  std::string path_;
  Text rows_{1 << 20};
  bool fresh_ = true;
};

// A ClickHouse setting's name ([a-z_][a-z0-9_]*) and value (letters, digits, '_', '.', '-').
bool clickhouse_setting(const std::string& name, const std::string& value) {
  const auto word = [](char c, bool digits) {
    return (c >= 'a' && c <= 'z') || c == '_' || (digits && c >= '0' && c <= '9');
  };
  return !name.empty() && word(name[0], false) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return word(c, true); }) &&
         !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
         });
}

std::unique_ptr<Destination> clickhouse(std::string_view url, const HttpOptions& options,
                                        std::string& error) {
  const auto u = parse_url(url, "clickhouse+http://", 8123, error);
  if (!u) return nullptr;
  std::string table, database, settings;
  for (const auto& [key, value] : u->query) {
    if (key == "table") {
      table = value;
    } else if (key == "database") {
      database = value;
    } else if (clickhouse_setting(key, value)) {
      settings += "&" + key + "=" + value;  // a setting of the insert, as ClickHouse's HTTP takes
    } else {
      error = "--to: \"" + key + "=" + value +
              "\" is neither table, database nor a ClickHouse setting (name=value)";
      return nullptr;
    }
  }
  // Names go into the INSERT statement: only what an unquoted identifier may hold.
  auto identifier = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
  };
  if (!identifier(table) || (!database.empty() && !identifier(database))) {
    error = "--to: needs ?table=NAME (letters, digits, _)";
    return nullptr;
  }
  return std::make_unique<ClickHouse>(*u, database.empty() ? table : database + "." + table,
                                      settings, options);
}

// ---- OTLP/HTTP -------------------------------------------------------------------------------

class Otlp final : public Destination {
 public:
  Otlp(const Url& url, bool json, const HttpOptions& options)
      : http_(url, options),
        path_(url.path.empty() || url.path == "/" ? "/v1/logs" : url.path),
        json_(json),
        // The JSON request is -o otlp's, as one request per batch.
        exporter_(make_otlp_exporter(
            [this](const Record& r) {
              return processes_[{r.pid, r.process_start_ns}];
            },
            SIZE_MAX)) {}

  void add(const Record& r, const ProcessFacts& process) override {
    if (json_) {
      processes_.try_emplace({r.pid, r.process_start_ns}, process);
      exporter_->add(r, json_text_);  // only held (one request per batch): writes nothing
      // About what -o otlp writes for it: a fixed part (times, severity, ids, thread and code
      // attributes), the message, the fields (measured: 762 bytes a record of logcat_bench).
      json_bytes_ += 500 + r.message.size() + 64 * r.fields.size();
    } else {
      proto_.add(r, process);
    }
    body_.clear();
  }
  [[nodiscard]] std::size_t bytes() const override { return json_ ? json_bytes_ : proto_.bytes(); }

  Outcome send() override {
    const bool fresh = body_.empty();
    if (fresh) {
      if (json_) {
        json_text_.clear();
        exporter_->flush(json_text_);
        body_.assign(json_text_.view().substr(0, json_text_.size() - 1));  // without its newline
        json_bytes_ = body_.size();  // the estimate gives way to the real size
      } else {
        proto_.encode(body_);
      }
    }
    std::string answer;
    Outcome o =
        http_.post(path_, body_, fresh, json_ ? "application/json" : "application/x-protobuf",
                   retryable, answer, bytes_sent_);
    if (o.kind == Outcome::Kind::delivered && !answer.empty()) {
      std::string message;
      if (!parse_otlp_response(answer, json_, o.rejected, message)) {
        o.what = "an answer that is not an ExportLogsServiceResponse";
      } else if (o.rejected != 0) {
        o.what = std::to_string(o.rejected) + " records rejected: " + message;
      }
    }
    return o;
  }
  void clear() override {
    proto_.clear();
    processes_.clear();
    json_bytes_ = 0;
    body_.clear();
  }

 private:
  // The OTLP specification's retryable statuses (OTLP/HTTP, "Retryable Response Codes").
  static bool retryable(int status) {
    return status == 429 || status == 502 || status == 503 || status == 504;
  }
  Http http_;
  std::string path_;
  bool json_;
  OtlpProtoBatch proto_;
  std::map<std::pair<std::int32_t, std::int64_t>, ProcessFacts> processes_;
  std::unique_ptr<Exporter> exporter_;
  std::size_t json_bytes_ = 0;
  Text json_text_;    // the JSON request being written (a buffer kept: it is a large one)
  std::string body_;  // the request, once built (every try sends the same bytes)
};

std::unique_ptr<Destination> otlp(std::string_view url, const HttpOptions& options,
                                  std::string& error) {
  const auto u = parse_url(url, "otlp+http://", 4318, error);
  if (!u) return nullptr;
  bool json = false;
  for (const auto& [key, value] : u->query) {
    if (key == "encoding" && (value == "json" || value == "protobuf")) {
      json = value == "json";
    } else {
      error = "--to: unknown parameter \"" + key + "=" + value + "\" (encoding=protobuf|json)";
      return nullptr;
    }
  }
  return std::make_unique<Otlp>(*u, json, options);
}

}  // namespace

std::unique_ptr<Destination> make_destination(const std::string& url, const HttpOptions& http,
                                              std::string& error) {
  for (const std::string& h : http.headers) {
    const std::size_t colon = h.find(':');
    if (colon == 0 || colon == std::string::npos || h.find_first_of("\r\n") != std::string::npos) {
      error = "--header: \"" + h + "\" is not \"Name: value\"";
      return nullptr;
    }
  }
  if (url.rfind("clickhouse+http://", 0) == 0) return clickhouse(url, http, error);
  if (url.rfind("otlp+http://", 0) == 0) return otlp(url, http, error);
  error = "--to: clickhouse+http://HOST:PORT/?table=NAME or otlp+http://HOST:PORT (got \"" + url +
          "\")";
  return nullptr;
}

}  // namespace logcat
