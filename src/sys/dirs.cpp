// Private directories (dirs.hpp).
#include "sys/dirs.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "sys/calendar.hpp"
#include "sys/sys.hpp"

namespace blackbox::sys {
namespace {

// mkdir -p: `mode` for what it creates. 0 or errno.
int make_dirs(const std::string& path, mode_t mode, bool parents) {
  if (path.empty()) return ENOENT;
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
  const std::size_t slash = path.find_last_of('/');
  if (parents && slash != std::string::npos && slash > 0) {
    if (const int err = make_dirs(path.substr(0, slash), mode, true); err != 0) return err;
  }
  if (calls().mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return errno;
  return 0;
}

}  // namespace

int open_existing_private_dir(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open directory " + path + ": " + sys::error_text(errno);
    return -1;
  }
  struct stat st {};
  std::string why;
  if (fstat(fd, &st) != 0) {
    why = sys::error_text(errno);
  } else if (st.st_uid != geteuid()) {
    why = "owned by another user (uid " + std::to_string(st.st_uid) + ", we are " +
          std::to_string(geteuid()) + ")";
  } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    why = std::string("writable by other users (mode ") + mode + ")";
  }
  if (why.empty()) return fd;
  close(fd);
  error = "refusing directory " + path + ": " + why;
  return -1;
}

int open_private_dir(const std::string& path, mode_t mode, bool parents, std::string& error) {
  if (const int err = make_dirs(path, mode, parents); err != 0) {
    error = "cannot create directory " + path + ": " + sys::error_text(err);
    return -1;
  }
  return open_existing_private_dir(path, error);
}

std::string foreign_dir(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return errno == ENOENT ? "" : error_text(errno);
  if (S_ISLNK(st.st_mode)) return "a symbolic link";
  if (!S_ISDIR(st.st_mode)) return "not a directory";
  if (st.st_uid != geteuid()) {
    return "owned by another user (uid " + std::to_string(st.st_uid) + ", we are " +
           std::to_string(geteuid()) + ")";
  }
  if ((st.st_mode & 022) != 0) return "writable by others";
  return "";
}

int open_regular(const std::string& path, bool write, std::string& error) {
  const int fd =
      ::open(path.c_str(), (write ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    error = errno == ELOOP ? "a symbolic link (not followed)" : error_text(errno);
    return -1;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    error = "not a regular file";
    errno = EINVAL;
    return -1;
  }
  return fd;
}

}  // namespace blackbox::sys
