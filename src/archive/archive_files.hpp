// The archive directory: creating, appending to, rotating and retiring archive files.
//
// Names sort by time and say who wrote them: `<UTC start time>.<app>.<pid>.bbx`, e.g.
// `20261124T130602.123456Z.orders.4711.bbx`. Files are created 0640 with
// O_EXCL|O_NOFOLLOW|O_CLOEXEC under a temporary name (`.<app>.<pid>.new`), locked with an
// exclusive flock() held while written (how retention, in any process, knows not to
// delete a file that is still being written), and renamed into place once their first
// frames are written. The directory must be ours and writable by no one else
// (sys/dirs.hpp).
// Used by the flusher thread only; not thread-safe (its BackgroundSync has a thread of its
// own, behind its own lock).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "format/file_names.hpp"

namespace blackbox {
struct Config;
}

namespace blackbox::archive {

struct FileSettings {
  std::string dir;
  std::string app;  // already sanitised for file names
  int pid = 0;      // the pid in file names; 0: this process's
  std::uint64_t rotate_bytes = 64u << 20;
  std::int64_t rotate_ns = 3600'000'000'000;
  std::uint64_t retain_bytes = 0;  // 0: no limit
  std::int64_t retain_ns = 0;      // 0: no limit
  // Files a retention hold (blackbox/retention.hpp) keeps stay while all files of the app
  // together are within this; 0: no ceiling.
  std::uint64_t retain_unshipped_bytes = 4ull << 30;
};

// What a retention pass deleted.
struct Retention {
  std::uint64_t files = 0;
  // Of those, files a hold still kept (deleted because of the ceiling), and their bytes.
  std::uint64_t unshipped_files = 0;
  std::uint64_t unshipped_bytes = 0;
};

// fdatasync() and close() of retired files, on a thread of its own: a rotation must not
// stop the drain. Syncing a 64 MiB file takes ~50 ms here, in which a producer writing
// 10 M records/s laps a 1 MiB ring 25 times. Started at the first file it is given.
class BackgroundSync {
 public:
  BackgroundSync() = default;
  ~BackgroundSync();  // waits for the files given, then ends the thread
  BackgroundSync(const BackgroundSync&) = delete;
  BackgroundSync& operator=(const BackgroundSync&) = delete;
  // Takes `fd` (and the flock it holds): synced, then closed.
  void add(int fd, std::string path);
  // Waits until every file given is synced and closed. Returns 0, or the errno of the first
  // sync that failed since the last call that returned it (`error` then says which file).
  int settle(std::string& error);
  // The same without waiting: a failure among the files already done.
  int failed(std::string& error);

 private:
  void run();
  int take(std::string& error);  // with mutex_ held
  std::mutex mutex_;
  std::condition_variable work_, idle_;
  std::deque<std::pair<int, std::string>> queue_;
  bool busy_ = false;  // the thread is syncing a file it took from the queue
  bool stop_ = false;
  int errno_ = 0;
  std::string error_;
  std::thread thread_;
};

class ArchiveFiles {
 public:
  explicit ArchiveFiles(FileSettings settings);
  ~ArchiveFiles();
  ArchiveFiles(const ArchiveFiles&) = delete;
  ArchiveFiles& operator=(const ArchiveFiles&) = delete;

  // Whether the next append starts a file (so it must begin with a file header frame).
  [[nodiscard]] bool at_file_start() const noexcept { return fd_ < 0 || size_ == 0; }
  // Whether the current file is full or old enough to be closed before appending `bytes`.
  // `mono_ns`: CLOCK_MONOTONIC (the file's age is a timer: a wall-clock step must not
  // rotate early or never).
  [[nodiscard]] bool should_rotate(std::int64_t mono_ns, std::size_t bytes) const noexcept;
  // Closes the current file, after fdatasync() (so a rotated or final file is on disk, and
  // a write-back error is seen); the next append creates a new one (the caller then runs
  // apply_retention()). Returns 0 or the errno of the sync (the file is closed anyway).
  int close_current() noexcept;
  // Closes the current file as close_current() does, but syncs it in the background: the
  // next append does not wait for the disk. Returns the errno of an earlier retired file's
  // sync that failed (0: none), as retired_error() does.
  int retire_current();
  // Waits until every retired file is on disk. 0, or the errno of a sync that failed
  // (last_error() says which).
  int settle();
  // A retired file's sync that failed, without waiting: 0 or its errno.
  int retired_error();
  // fdatasync() of the current file: 0, or the errno (last_error() says what failed).
  [[nodiscard]] int sync() noexcept;

  // Appends whole frames to the current file, creating it first if needed. Returns 0, or
  // the errno of the failure; a failed append is cut back off the file (no torn frame is
  // left when the filesystem allows the truncation).
  // `now_ns` (wall clock) names a new file, `mono_ns` starts its age.
  [[nodiscard]] int append(std::span<const std::byte> frames, std::int64_t now_ns,
                           std::int64_t mono_ns);
  // Tests: one clock for both.
  [[nodiscard]] int append(std::span<const std::byte> frames, std::int64_t now_ns) {
    return append(frames, now_ns, now_ns);
  }

  // Deletes this app's oldest files beyond the retention limits (never a file that is
  // locked by its writer, never the current one; a file last written less than a second
  // before the directory's oldest retention hold only beyond retain_unshipped_bytes).
  Retention apply_retention(std::int64_t now_ns);

  [[nodiscard]] const std::string& current_path() const noexcept { return path_; }
  [[nodiscard]] std::uint32_t files_created() const noexcept { return files_created_; }
  [[nodiscard]] const std::string& last_error() const noexcept { return last_error_; }

 private:
  [[nodiscard]] int open_new(std::int64_t now_ns, std::int64_t mono_ns);
  // Renames the new file from its temporary name to its final one. 0 or errno.
  [[nodiscard]] int publish();
  // After the current file's fd was closed or handed over: no current file.
  void forget_current() noexcept;

  FileSettings settings_;
  int fd_ = -1;
  int dir_fd_ = -1;        // the directory, while the file has its temporary name
  std::string temp_name_;  // "" once published
  std::string path_;
  std::uint64_t size_ = 0;
  std::int64_t opened_ns_ = 0;       // wall clock: the file's name
  std::int64_t opened_mono_ns_ = 0;  // monotonic: its age
  std::uint32_t files_created_ = 0;
  std::string last_error_;
  BackgroundSync retired_;  // last: its destructor waits for the files while the rest lives
};

// The archive settings of `config` for `app` (already sanitised; "" for recovery, which
// takes each dead ring's own).
[[nodiscard]] FileSettings file_settings(const Config& config, std::string app);

}  // namespace blackbox::archive
