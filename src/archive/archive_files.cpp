// Archive files: create, append, rotate, retire. See archive_files.hpp.
#include "archive/archive_files.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>  // renameat2
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>

#include "archive/retention_hold.hpp"
#include "blackbox/config.hpp"
#include "format/file_names.hpp"
#include "sys/calendar.hpp"
#include "sys/dirs.hpp"
#include "sys/sys.hpp"

namespace blackbox::archive {
namespace {}  // namespace

BackgroundSync::~BackgroundSync() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackgroundSync::add(int fd, std::string path) {
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(fd, std::move(path));
    if (!thread_.joinable()) {
      thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "bbx-sync");
        run();
      });
    }
  }
  work_.notify_one();
}

void BackgroundSync::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to sync
    auto [fd, path] = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    const int err = sys::calls().fdatasync(fd) == 0 ? 0 : errno;
    close(fd);  // also drops the flock: retention may take the file now
    lock.lock();
    busy_ = false;
    if (err != 0 && errno_ == 0) {
      errno_ = err;
      error_ = "cannot sync " + path + " to disk: " + sys::error_text(err);
    }
    if (queue_.empty()) idle_.notify_all();
  }
}

int BackgroundSync::take(std::string& error) {
  const int err = errno_;
  if (err != 0) error = std::move(error_);
  errno_ = 0;
  error_.clear();
  return err;
}

int BackgroundSync::settle(std::string& error) {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
  return take(error);
}

int BackgroundSync::failed(std::string& error) {
  std::lock_guard lock(mutex_);
  return take(error);
}

ArchiveFiles::ArchiveFiles(FileSettings settings) : settings_(std::move(settings)) {}

ArchiveFiles::~ArchiveFiles() { (void)close_current(); }

bool ArchiveFiles::should_rotate(std::int64_t mono_ns, std::size_t bytes) const noexcept {
  if (fd_ < 0 || size_ == 0) return false;
  return size_ + bytes > settings_.rotate_bytes || mono_ns - opened_mono_ns_ >= settings_.rotate_ns;
}

int ArchiveFiles::sync() noexcept {
  if (fd_ < 0 || size_ == 0) return 0;
  if (sys::calls().fdatasync(fd_) == 0) return 0;
  const int err = errno;
  last_error_ = "cannot sync " + path_ + " to disk: " + sys::error_text(err);
  return err;
}

int ArchiveFiles::close_current() noexcept {
  if (fd_ < 0) return 0;
  const int err = temp_name_.empty() ? sync() : 0;
  // Never leave a file without its header: one never published goes.
  if (!temp_name_.empty()) unlinkat(dir_fd_, temp_name_.c_str(), 0);
  close(fd_);  // also drops the flock
  forget_current();
  return err;
}

void ArchiveFiles::forget_current() noexcept {
  fd_ = -1;
  size_ = 0;
  if (dir_fd_ >= 0) close(dir_fd_);
  dir_fd_ = -1;
  temp_name_.clear();
}

int ArchiveFiles::retire_current() {
  if (fd_ < 0 || !temp_name_.empty()) {  // nothing published to sync
    const int err = close_current();
    const int earlier = retired_error();
    return err != 0 ? err : earlier;
  }
  retired_.add(fd_, path_);
  forget_current();
  return retired_error();
}

int ArchiveFiles::settle() {
  std::string error;
  const int err = retired_.settle(error);
  if (err != 0) last_error_ = std::move(error);
  return err;
}

int ArchiveFiles::retired_error() {
  std::string error;
  const int err = retired_.failed(error);
  if (err != 0) last_error_ = std::move(error);
  return err;
}

FileSettings file_settings(const Config& config, std::string app) {
  FileSettings files;
  files.dir = config.archive_dir;
  files.app = std::move(app);
  files.rotate_bytes = config.rotate_bytes;
  files.rotate_ns = std::int64_t{config.rotate_seconds} * 1'000'000'000;
  files.retain_bytes = config.retain_bytes;
  files.retain_ns = std::int64_t{config.retain_seconds} * 1'000'000'000;
  files.retain_unshipped_bytes = config.retain_unshipped_bytes;
  return files;
}

// A new file is made as a private temporary (a name retention and readers do not take),
// locked (checked), and renamed into place only once its first frames (the file header
// first) are in it: another process never sees an archive file of ours that is not yet
// locked (retention would have deleted it) or that has no header.
int ArchiveFiles::open_new(std::int64_t now_ns, std::int64_t mono_ns) {
  std::string dir_error;
  const int dir_fd = sys::open_private_dir(settings_.dir, 0750, true, dir_error);
  if (dir_fd < 0) {
    last_error_ = "archive: " + dir_error;
    return errno != 0 ? errno : EACCES;
  }
  const int pid = settings_.pid != 0 ? settings_.pid : getpid();
  const std::string temp = "." + settings_.app + "." + std::to_string(pid) + ".new";
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND;
  int fd = sys::calls().openat(dir_fd, temp.c_str(), kFlags, 0640);
  if (fd < 0 && errno == EEXIST) {  // left by a process with this pid that died meanwhile
    unlinkat(dir_fd, temp.c_str(), 0);
    fd = sys::calls().openat(dir_fd, temp.c_str(), kFlags, 0640);
  }
  if (fd < 0) {
    const int err = errno;
    close(dir_fd);
    last_error_ = "cannot create archive file in " + settings_.dir + ": " + sys::error_text(err);
    return err;
  }
  // Held until the file is closed: retention skips files whose writer still holds this.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    unlinkat(dir_fd, temp.c_str(), 0);
    close(fd);
    close(dir_fd);
    last_error_ = "cannot lock archive file in " + settings_.dir + ": " + sys::error_text(err);
    return err;
  }
  fd_ = fd;
  dir_fd_ = dir_fd;
  temp_name_ = temp;
  path_ = settings_.dir + "/" + temp;
  size_ = 0;
  opened_ns_ = now_ns;
  opened_mono_ns_ = mono_ns;
  ++files_created_;
  return 0;
}

int ArchiveFiles::publish() {
  // Same microsecond as an earlier file (or another process's): try the next microsecond.
  const int pid = settings_.pid != 0 ? settings_.pid : getpid();
  int err = EEXIST;
  std::string name;
  for (int attempt = 0; attempt < 64 && err == EEXIST; ++attempt) {
    name = file_time(opened_ns_ + attempt * 1000) + "." + settings_.app + "." +
           std::to_string(pid) + kArchiveSuffix;
    err = renameat2(dir_fd_, temp_name_.c_str(), dir_fd_, name.c_str(), RENAME_NOREPLACE) == 0
              ? 0
              : errno;
  }
  if (err != 0) {
    last_error_ = "cannot rename " + path_ + " into place: " + sys::error_text(err);
    return err;
  }
  close(dir_fd_);
  dir_fd_ = -1;
  temp_name_.clear();
  path_ = settings_.dir + "/" + name;
  return 0;
}

int ArchiveFiles::append(std::span<const std::byte> frames, std::int64_t now_ns,
                         std::int64_t mono_ns) {
  if (fd_ < 0) {
    if (const int err = open_new(now_ns, mono_ns); err != 0) return err;
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
    last_error_ = "cannot write " + path_ + ": " + sys::error_text(err);
    // Cut the torn frame off so the file stays a clean sequence of frames.
    if (done != 0 && sys::calls().ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      // The torn bytes stay; the reader skips them as damage. Append after them.
      struct stat st {};
      if (fstat(fd_, &st) == 0) size_ = static_cast<std::uint64_t>(st.st_size);
    }
    return err;
  }
  size_ += frames.size();
  if (!temp_name_.empty()) return publish();  // its header is in it: into place
  return 0;
}

Retention ArchiveFiles::apply_retention(std::int64_t now_ns) {
  Retention done;
  if (settings_.retain_bytes == 0 && settings_.retain_ns == 0) return done;
  DIR* dir = opendir(settings_.dir.c_str());
  if (dir == nullptr) return done;
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
  // A file last written before the oldest hold (with a second's margin: a file's mtime
  // comes from a coarse clock, and a record's time is taken before it is written) holds
  // only records its readers have read.
  const std::optional<std::int64_t> hold = oldest_hold(dfd);
  const std::string current = path_.substr(path_.find_last_of('/') + 1);
  for (const Entry& f : files) {
    const bool over_bytes = settings_.retain_bytes != 0 && total > settings_.retain_bytes;
    const bool too_old = settings_.retain_ns != 0 && now_ns - f.mtime_ns > settings_.retain_ns;
    if (!over_bytes && !too_old) continue;
    if (fd_ >= 0 && f.name == current) continue;
    constexpr std::int64_t kMargin = 1'000'000'000;
    const bool unshipped = hold && (*hold < INT64_MIN + kMargin || f.mtime_ns > *hold - kMargin);
    if (unshipped &&
        (settings_.retain_unshipped_bytes == 0 || total <= settings_.retain_unshipped_bytes)) {
      continue;
    }
    const int fd = openat(dfd, f.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    // A writer holds LOCK_EX while writing: if we get it, nobody is writing the file.
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dfd, f.name.c_str(), 0) == 0) {
      total -= f.bytes;
      ++done.files;
      if (unshipped) {
        ++done.unshipped_files;
        done.unshipped_bytes += f.bytes;
      }
    }
    close(fd);
  }
  closedir(dir);
  return done;
}

}  // namespace blackbox::archive
