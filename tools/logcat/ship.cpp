// `logcat ship` (ship.hpp): batches of rows, delivered and acknowledged before the cursor
// moves past them.
#include "ship.hpp"

#include <httplib.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "cursor.hpp"
#include "json.hpp"

namespace logcat {
namespace {

using blackbox::Record;

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

// Waits `seconds` in short naps, so that a stop signal ends it at once. False: stopped.
bool nap(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!g_stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return true;
    const auto left = std::chrono::duration<double>(until - now).count();
    const double step = std::min(left, 0.05);
    const timespec pause{
        static_cast<time_t>(step),
        static_cast<long>((step - static_cast<double>(static_cast<time_t>(step))) * 1e9)};
    nanosleep(&pause, nullptr);
  }
  return false;
}

// clickhouse+http://HOST[:PORT]/?table=NAME[&database=DB]
struct ClickHouseUrl {
  std::string host;
  int port = 8123;
  std::string table, database;
};

std::optional<ClickHouseUrl> parse_clickhouse(const std::string& url, std::string& error) {
  constexpr std::string_view kScheme = "clickhouse+http://";
  if (url.rfind(kScheme, 0) != 0) {
    error = "--to: only clickhouse+http://HOST:PORT/?table=NAME is known (got \"" + url + "\")";
    return std::nullopt;
  }
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  const std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string_view query;
  if (slash != std::string_view::npos) {
    query = rest.substr(slash);
    query = query.substr(query.find('?') == std::string_view::npos ? query.size()
                                                                   : query.find('?') + 1);
  }
  ClickHouseUrl u;
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
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string value(eq == std::string_view::npos ? std::string_view{}
                                                         : pair.substr(eq + 1));
    if (key == "table") {
      u.table = value;
    } else if (key == "database") {
      u.database = value;
    } else {
      error = "--to: unknown parameter \"" + std::string(key) + "\" (table, database)";
      return std::nullopt;
    }
  }
  // Names go into the INSERT statement: only what an unquoted identifier may hold.
  auto identifier = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
  };
  if (u.host.empty() || !identifier(u.table) || (!u.database.empty() && !identifier(u.database))) {
    error = "--to: needs a host and ?table=NAME (letters, digits, _)";
    return std::nullopt;
  }
  return u;
}

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

// What a try of a batch came to.
struct Outcome {
  enum class Kind { delivered, retry, refused } kind;
  std::string what;           // for the log line
  double retry_after_s = -1;  // the receiver's Retry-After, if it said
};

class ClickHouse {
 public:
  ClickHouse(ClickHouseUrl url, const ShipArgs& args)
      : url_(std::move(url)), args_(args), client_(url_.host, url_.port) {
    const auto timeout = std::chrono::duration<double>(args.timeout_s);
    client_.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    client_.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    client_.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);  // headers and body go in two writes: no Nagle wait between
    const std::string table = url_.database.empty() ? url_.table : url_.database + "." + url_.table;
    path_ = "/?query=" +
            httplib::detail::encode_query_param("INSERT INTO " + table + " FORMAT JSONEachRow");
  }

  // Bytes sent in requests (compressed), over every try.
  [[nodiscard]] std::uint64_t bytes_sent() const { return bytes_sent_; }

  Outcome send(std::string_view rows) {
    httplib::Headers headers;
    std::string_view body = rows;
    if (args_.gzip) {
      if (!gzip(rows, compressed_)) return {Outcome::Kind::retry, "gzip failed"};
      headers.emplace("Content-Encoding", "gzip");
      body = compressed_;
    }
    bytes_sent_ += body.size();
    const auto res =
        client_.Post(path_.c_str(), headers, body.data(), body.size(), "application/x-ndjson");
    if (!res) return {Outcome::Kind::retry, "HTTP: " + httplib::to_string(res.error())};
    if (res->status == 200) return {Outcome::Kind::delivered, ""};
    Outcome o{Outcome::Kind::retry,
              "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300)};
    while (!o.what.empty() && (o.what.back() == '\n' || o.what.back() == ' ')) o.what.pop_back();
    if (res->status != 429 && res->status < 500) o.kind = Outcome::Kind::refused;
    if (res->has_header("Retry-After")) {
      const std::string v = res->get_header_value("Retry-After");
      char* end = nullptr;
      const double s = std::strtod(v.c_str(), &end);
      if (end != v.c_str() && *end == '\0' && s >= 0) o.retry_after_s = s;  // seconds form only
    }
    return o;
  }

 private:
  ClickHouseUrl url_;
  const ShipArgs& args_;
  httplib::Client client_;
  std::string path_;
  std::string compressed_;
  std::uint64_t bytes_sent_ = 0;
};

}  // namespace

int run_ship(const ShipArgs& args, Inputs& inputs, const Selection& selection,
             const ProcessLookup& process, const std::optional<Cursor>& resume) {
  std::string error;
  const auto url = parse_clickhouse(args.to, error);
  if (!url) {
    std::fprintf(stderr, "logcat ship: %s\n", error.c_str());
    return 2;
  }
  g_stop.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  ClickHouse destination(*url, args);
  Cursor acked = resume.value_or(Cursor{});  // what the destination has
  Cursor pending = acked;                    // ... and the open batch too
  Text rows(1 << 20);
  std::size_t batch = 0;
  auto first_added = std::chrono::steady_clock::now();
  std::mt19937_64 jitter(std::random_device{}());
  bool refused = false;
  // What this run did, said on stderr at its end.
  std::uint64_t shipped = 0, batches = 0, retries = 0, row_bytes = 0;

  // Sends the open batch until the destination has it (or a stop, or a refusal). The
  // cursor moves, on disk, only then.
  auto deliver = [&]() -> bool {
    if (batch == 0) return true;
    double backoff = 0.25;
    for (int attempt = 0;; ++attempt) {
      const Outcome o = destination.send(rows.view());
      if (o.kind == Outcome::Kind::delivered) break;
      ++retries;
      if (o.kind == Outcome::Kind::refused) {
        std::fprintf(stderr, "logcat ship: a batch of %zu records was refused (%s); stopping\n",
                     batch, o.what.c_str());
        refused = true;
        return false;
      }
      // Exponential, with full jitter over its upper half; a Retry-After wins.
      const double wait =
          o.retry_after_s >= 0
              ? std::min(o.retry_after_s, args.backoff_max_s)
              : backoff * (0.5 + 0.5 * std::uniform_real_distribution<double>(0, 1)(jitter));
      std::fprintf(stderr, "logcat ship: %s; try %d again in %.2f s\n", o.what.c_str(), attempt + 2,
                   wait);
      backoff = std::min(backoff * 2, args.backoff_max_s);
      if (!nap(wait)) return false;
    }
    acked = pending;
    shipped += batch;
    ++batches;
    row_bytes += rows.size();
    rows.clear();
    batch = 0;
    if (const std::string e = write_cursor_file(args.state, acked); !e.empty()) {
      std::fprintf(stderr, "logcat ship: %s\n", e.c_str());
      return false;
    }
    return true;
  };
  auto due = [&] {
    return batch >= args.batch_records || rows.size() >= args.batch_bytes ||
           (batch != 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - first_added).count() >=
                args.batch_wait_s);
  };
  auto take = [&](const Record& r) {
    if (g_stop.load()) return false;
    if (resume && resume->seen(r)) return true;
    if (!selection.pass_decoded(r)) return true;
    if (batch == 0) first_added = std::chrono::steady_clock::now();
    append_row(r, process(r), rows);
    pending.advance(r);
    ++batch;
    return !due() || deliver();
  };

  inputs.read_all(take);
  const double busy_s = std::min(0.01, args.interval_s);
  double wait_s = busy_s;
  while (!args.once && !g_stop.load() && !refused) {
    if (due() && !deliver()) break;
    if (!nap(batch != 0 ? std::min(wait_s, args.batch_wait_s) : wait_s)) break;
    const std::size_t got = inputs.read_new(take);
    wait_s = got != 0 ? busy_s : std::min(2 * wait_s, args.interval_s);
  }
  // The open batch goes out before the end (a stop signal stops it only while it waits).
  // A second signal ends that wait: the batch is then sent again by the next start.
  if (!refused) {
    g_stop.store(false);
    (void)deliver();
  }
  std::fprintf(stderr,
               "logcat ship: %llu records in %llu batches (%llu bytes of rows, %llu sent), "
               "%llu tries again\n",
               static_cast<unsigned long long>(shipped), static_cast<unsigned long long>(batches),
               static_cast<unsigned long long>(row_bytes),
               static_cast<unsigned long long>(destination.bytes_sent()),
               static_cast<unsigned long long>(retries));
  return refused ? 1 : 0;
}

}  // namespace logcat
