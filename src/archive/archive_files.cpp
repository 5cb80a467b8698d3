// Archive files: create, append, rotate, retire. See archive_files.hpp.
#include "archive/archive_files.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "blackbox/config.hpp"
#include "format/file_names.hpp"
#include "sys/sys.hpp"

namespace blackbox::archive {
namespace {

// mkdir -p with mode 0750 for what it creates.
int make_dirs(const std::string& path) {
  if (path.empty()) return ENOENT;
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
  const std::size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    if (const int err = make_dirs(path.substr(0, slash)); err != 0) return err;
  }
  if (sys::calls().mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) return errno;
  return 0;
}

}  // namespace

ArchiveFiles::ArchiveFiles(FileSettings settings) : settings_(std::move(settings)) {}

ArchiveFiles::~ArchiveFiles() { close_current(); }

bool ArchiveFiles::should_rotate(std::int64_t now_ns, std::size_t bytes) const noexcept {
  if (fd_ < 0 || size_ == 0) return false;
  return size_ + bytes > settings_.rotate_bytes || now_ns - opened_ns_ >= settings_.rotate_ns;
}

void ArchiveFiles::close_current() noexcept {
  if (fd_ < 0) return;
  if (size_ == 0) unlink(path_.c_str());  // never leave a file without even its header
  close(fd_);                             // also drops the flock
  fd_ = -1;
  size_ = 0;
}

FileSettings file_settings(const Config& config, std::string app) {
  FileSettings files;
  files.dir = config.archive_dir;
  files.app = std::move(app);
  files.rotate_bytes = config.rotate_bytes;
  files.rotate_ns = std::int64_t{config.rotate_seconds} * 1'000'000'000;
  files.retain_bytes = config.retain_bytes;
  files.retain_ns = std::int64_t{config.retain_seconds} * 1'000'000'000;
  return files;
}

int ArchiveFiles::open_new(std::int64_t now_ns) {
  if (const int err = make_dirs(settings_.dir); err != 0) {
    last_error_ = "cannot create archive directory " + settings_.dir + ": " + std::strerror(err);
    return err;
  }
  const int dir_fd =
      sys::calls().open(settings_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir_fd < 0) {
    const int err = errno;
    last_error_ = "cannot open archive directory " + settings_.dir + ": " + std::strerror(err);
    return err;
  }
  // Same microsecond as an earlier file (or another process's): try the next microsecond.
  int fd = -1;
  std::string name;
  for (int attempt = 0; attempt < 64 && fd < 0; ++attempt) {
    name = file_time(now_ns + attempt * 1000) + "." + settings_.app + "." +
           std::to_string(settings_.pid != 0 ? settings_.pid : getpid()) + kArchiveSuffix;
    fd = sys::calls().openat(dir_fd, name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND, 0640);
    if (fd < 0 && errno != EEXIST) break;
  }
  const int err = errno;
  close(dir_fd);
  if (fd < 0) {
    last_error_ = "cannot create archive file in " + settings_.dir + ": " + std::strerror(err);
    return err;
  }
  // Held until the file is closed: retention skips files whose writer still holds this.
  flock(fd, LOCK_EX | LOCK_NB);
  fd_ = fd;
  path_ = settings_.dir + "/" + name;
  size_ = 0;
  opened_ns_ = now_ns;
  ++files_created_;
  return 0;
}

int ArchiveFiles::append(std::span<const std::byte> frames, std::int64_t now_ns) {
  if (fd_ < 0) {
    if (const int err = open_new(now_ns); err != 0) return err;
  }
  std::size_t done = 0;
  while (done < frames.size()) {
    const ssize_t n = sys::calls().write(fd_, frames.data() + done, frames.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n == 0 ? EIO : errno;
    last_error_ = "cannot write " + path_ + ": " + std::strerror(err);
    // Cut the torn frame off so the file stays a clean sequence of frames.
    if (done != 0 && sys::calls().ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      // The torn bytes stay; the reader skips them as damage. Append after them.
      struct stat st {};
      if (fstat(fd_, &st) == 0) size_ = static_cast<std::uint64_t>(st.st_size);
    }
    return err;
  }
  size_ += frames.size();
  return 0;
}

std::uint64_t ArchiveFiles::apply_retention(std::int64_t now_ns) {
  if (settings_.retain_bytes == 0 && settings_.retain_ns == 0) return 0;
  DIR* dir = opendir(settings_.dir.c_str());
  if (dir == nullptr) return 0;
  struct Entry {
    std::string name;
    std::uint64_t bytes;
    std::int64_t mtime_ns;
  };
  std::vector<Entry> files;
  const int dfd = dirfd(dir);
  while (const dirent* e = readdir(dir)) {
    std::string app;
    int pid = 0;
    if (!parse_file_name(e->d_name, app, pid) || app != settings_.app) continue;
    struct stat st {};
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    files.push_back({e->d_name, static_cast<std::uint64_t>(st.st_size),
                     st.st_mtim.tv_sec * 1'000'000'000ll + st.st_mtim.tv_nsec});
  }
  std::sort(files.begin(), files.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });  // oldest first
  std::uint64_t total = 0;
  for (const Entry& f : files) total += f.bytes;
  std::uint64_t deleted = 0;
  const std::string current = path_.substr(path_.find_last_of('/') + 1);
  for (const Entry& f : files) {
    const bool over_bytes = settings_.retain_bytes != 0 && total > settings_.retain_bytes;
    const bool too_old = settings_.retain_ns != 0 && now_ns - f.mtime_ns > settings_.retain_ns;
    if (!over_bytes && !too_old) continue;
    if (fd_ >= 0 && f.name == current) continue;
    const int fd = openat(dfd, f.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    // A writer holds LOCK_EX while writing: if we get it, nobody is writing the file.
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dfd, f.name.c_str(), 0) == 0) {
      total -= f.bytes;
      ++deleted;
    }
    close(fd);
  }
  closedir(dir);
  return deleted;
}

}  // namespace blackbox::archive
