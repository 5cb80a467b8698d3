// Retention holds: `.hold.<holder>` files holding "blackbox-hold 1 <through_ns>\n".
#include "archive/retention_hold.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "blackbox/retention.hpp"
#include "sys/calendar.hpp"

namespace blackbox {
namespace {

constexpr std::string_view kPrefix = ".hold.";
constexpr std::string_view kMagic = "blackbox-hold 1 ";

bool valid_holder(std::string_view holder) {
  return !holder.empty() && holder.size() <= 64 &&
         std::all_of(holder.begin(), holder.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
         });
}

// The hold in `name` of the directory `dir_fd`, if it is one we may trust and read.
std::optional<std::int64_t> read_hold(int dir_fd, const char* name) {
  // O_NONBLOCK: a FIFO planted under the name must not stall the flusher.
  const int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  std::array<char, 64> text{};
  struct stat st {};
  ssize_t n = -1;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_uid == geteuid() || st.st_uid == 0) &&
      st.st_size > 0 && static_cast<std::size_t>(st.st_size) < text.size()) {
    n = pread(fd, text.data(), text.size(), 0);
  }
  close(fd);
  if (n <= 0) return std::nullopt;
  const std::string_view s(text.data(), static_cast<std::size_t>(n));
  if (!s.starts_with(kMagic) || !s.ends_with('\n')) return std::nullopt;
  std::int64_t through = 0;
  const char* first = s.data() + kMagic.size();
  const char* last = s.data() + s.size() - 1;
  const auto [end, ec] = std::from_chars(first, last, through);
  if (ec != std::errc{} || end != last) return std::nullopt;
  return through;
}

// Visits the holds of the directory `dir_fd`: fn(holder, through_ns).
template <typename Fn>
void for_each_hold(int dir_fd, Fn&& fn) {
  const int copy = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return;
  DIR* dir = fdopendir(copy);
  if (dir == nullptr) {
    close(copy);
    return;
  }
  rewinddir(dir);
  while (const dirent* e = readdir(dir)) {
    const std::string_view name(e->d_name);
    if (!name.starts_with(kPrefix) || !valid_holder(name.substr(kPrefix.size()))) continue;
    if (const auto through = read_hold(dir_fd, e->d_name))
      fn(name.substr(kPrefix.size()), *through);
  }
  closedir(dir);
}

std::string errno_text(const std::string& what, int err) {
  return what + ": " + sys::error_text(err);
}

}  // namespace

std::string set_retention_hold(const std::string& archive_dir, std::string_view holder,
                               std::int64_t through_ns) {
  if (!valid_holder(holder)) return "a hold's holder is [A-Za-z0-9_.-], 1 to 64 bytes";
  const int dir_fd = open(archive_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return errno_text(archive_dir, errno);
  const std::string name = std::string(kPrefix) + std::string(holder);
  const std::string temp = name + ".new." + std::to_string(getpid());
  std::string error;
  const int fd =
      openat(dir_fd, temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd < 0) {
    error = errno_text(archive_dir + "/" + temp, errno);
  } else {
    const std::string text = std::string(kMagic) + std::to_string(through_ns) + "\n";
    const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const int write_errno = errno;
    close(fd);
    if (!written) {
      error = errno_text(archive_dir + "/" + temp, write_errno);
    } else if (renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
      error = errno_text(archive_dir + "/" + name, errno);
    }
    if (!error.empty()) unlinkat(dir_fd, temp.c_str(), 0);
  }
  close(dir_fd);
  return error;
}

std::string remove_retention_hold(const std::string& archive_dir, std::string_view holder) {
  if (!valid_holder(holder)) return "a hold's holder is [A-Za-z0-9_.-], 1 to 64 bytes";
  const std::string path = archive_dir + "/" + std::string(kPrefix) + std::string(holder);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return errno_text(path, errno);
  return "";
}

std::vector<RetentionHold> retention_holds(const std::string& archive_dir) {
  std::vector<RetentionHold> holds;
  const int dir_fd = open(archive_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return holds;
  for_each_hold(dir_fd, [&](std::string_view holder, std::int64_t through) {
    holds.push_back({std::string(holder), through});
  });
  close(dir_fd);
  std::sort(holds.begin(), holds.end(),
            [](const RetentionHold& a, const RetentionHold& b) { return a.holder < b.holder; });
  return holds;
}

namespace archive {

std::optional<std::int64_t> oldest_hold(int dir_fd) {
  std::optional<std::int64_t> oldest;
  for_each_hold(dir_fd, [&](std::string_view, std::int64_t through) {
    if (!oldest || through < *oldest) oldest = through;
  });
  return oldest;
}

}  // namespace archive
}  // namespace blackbox
