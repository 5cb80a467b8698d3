#include "cursor.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace logcat {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

// A lowercase hex number that fits in T (signed types through their bit pattern).
template <typename T>
bool hex_number(std::string_view s, T& out) {
  using U = std::make_unsigned_t<T>;
  if (s.empty() || s.size() > 2 * sizeof(U)) return false;
  if (!std::all_of(s.begin(), s.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    return false;
  }
  U value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 16);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  out = static_cast<T>(value);
  return true;
}

template <typename T>
std::string hex_of(T value) {
  return fmt::format("{:x}", static_cast<std::make_unsigned_t<T>>(value));
}

}  // namespace

std::optional<Cursor> Cursor::parse(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const std::vector<std::string_view> parts = split(text, '.');
  if (parts.size() < 3 || parts[0] != "c1") return std::nullopt;
  Cursor c;
  if (!hex_number(parts[1], c.floor_ns_) || !hex_number(parts[2], c.newest_ns_)) {
    return std::nullopt;
  }
  for (std::size_t i = 3; i < parts.size(); ++i) {
    const std::vector<std::string_view> f = split(parts[i], '-');
    std::int32_t pid;
    std::int64_t start, time;
    std::uint32_t slot;
    std::uint64_t sequence;
    if (f.size() != 5 || !hex_number(f[0], pid) || !hex_number(f[1], start) ||
        !hex_number(f[2], slot) || !hex_number(f[3], sequence) || !hex_number(f[4], time)) {
      return std::nullopt;
    }
    c.streams_[{pid, start, slot}] = {sequence, time};
  }
  return c;
}

std::int64_t Cursor::through_ns() const {
  // The floor moves up to kLateNs before the newest record.
  std::int64_t floor = floor_ns_;
  if (newest_ns_ != kNone && newest_ns_ - kLateNs > floor) floor = newest_ns_ - kLateNs;
  return floor;
}

std::string Cursor::text() const {
  // Streams with nothing after the floor are left to it.
  const std::int64_t floor = through_ns();
  // fmt rather than operator+ chains (g++ 12 -O3 warns, wrongly, -Wrestrict on those).
  std::string out = fmt::format("c1.{}.{}", hex_of(floor), hex_of(newest_ns_));
  for (const auto& [key, last] : streams_) {
    if (last.time_ns < floor) continue;
    const auto& [pid, start, slot] = key;
    out += fmt::format(".{}-{}-{}-{}-{}", hex_of(pid), hex_of(start), hex_of(slot),
                       hex_of(last.sequence), hex_of(last.time_ns));
  }
  return out;
}

bool Cursor::seen(const blackbox::Record& r) const {
  const auto it = streams_.find({r.pid, r.process_start_ns, r.slot});
  if (it != streams_.end()) return r.sequence <= it->second.sequence;
  return r.time_ns < floor_ns_;
}

void Cursor::advance(const blackbox::Record& r) {
  Last& last = streams_[{r.pid, r.process_start_ns, r.slot}];
  last.sequence = std::max(last.sequence, r.sequence);
  last.time_ns = std::max(last.time_ns, r.time_ns);
  newest_ns_ = std::max(newest_ns_, r.time_ns);
}

std::string read_cursor_file(const std::string& path, std::optional<Cursor>& out) {
  out.reset();
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return "";  // no cursor yet: from the start
    return path + ": " + std::strerror(errno);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // a FIFO must not hang the shipper
    close(fd);
    return path + ": not a regular file";
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 && text.size() < (16u << 20)) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  if (n < 0) return path + ": " + std::strerror(errno);
  if (text.empty()) return "";  // created empty: from the start
  out = Cursor::parse(text);
  if (!out) return path + ": not a logcat cursor";
  return "";
}

std::string write_cursor_file(const std::string& path, const Cursor& cursor) {
  const std::string tmp = path + ".tmp";
  unlink(tmp.c_str());  // one a crashed run left
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return tmp + ": " + std::strerror(errno);
  const std::string text = cursor.text() + "\n";
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = written ? (fsync(fd) == 0 ? 0 : errno) : (errno != 0 ? errno : EIO);
  close(fd);
  if (err != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = err != 0 ? err : errno;
    unlink(tmp.c_str());
    return path + ": " + std::strerror(e);
  }
  return "";
}

}  // namespace logcat
