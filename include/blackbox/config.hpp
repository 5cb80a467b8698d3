// Configuration: a plain struct with documented defaults, units and ranges, validated once.
// Environment variables map onto the same fields (Config::from_env).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace blackbox {

struct Config {
  // Directory for the ring file. Env: BBX_DIR. Created (mode 0700) if missing and its parent
  // exists. If it cannot be used, logging goes to an anonymous in-memory ring instead.
  std::string dir = "/dev/shm/blackbox";

  // Application name, used in the ring file's name and header. Env: BBX_APP.
  // Empty: the program's name. Characters outside [A-Za-z0-9._-] become '_'; max 63 bytes.
  std::string app;

  // Level spec: a default level and per-tag overrides, e.g. "info,net=debug,db=warn".
  // Levels: trace, debug, info, warn, error, fatal, off. Env: BBX_LEVEL.
  std::string levels = "info";

  // Bytes of ring per logging thread. Power of two, 64 KiB .. 1 GiB. Env: BBX_RING_BYTES.
  std::uint64_t ring_bytes = 1u << 20;

  // Bytes per ring block, the unit of overwriting. Power of two, 4 KiB .. ring_bytes / 4.
  // A record never straddles a block, so this also bounds the size of one record.
  std::uint32_t block_bytes = 16u << 10;

  // Most threads that can hold a ring at once (threads that exited give theirs back).
  // 1 .. 65536. Only the rings of threads that log are ever touched. Env: BBX_MAX_THREADS.
  std::uint32_t max_threads = 256;

  // Bytes reserved for call-site definitions (~100 bytes each). 64 KiB .. 256 MiB.
  std::uint32_t site_table_bytes = 1u << 20;

  // String arguments longer than this are cut (at a UTF-8 boundary) and marked truncated.
  // 16 .. block_bytes / 2. Env: BBX_MAX_STRING.
  std::uint32_t max_string_bytes = 4096;

  // Remove the ring file on shutdown() or normal exit. A crash or kill always leaves it.
  bool remove_ring_on_exit = true;

  // Defaults overridden by the BBX_* environment variables. A bad value is reported in
  // `warnings` (naming the variable and what was expected) and the default is kept.
  [[nodiscard]] static Config from_env(std::vector<std::string>* warnings = nullptr);

  // Empty if every field is in range, else one message per bad field.
  [[nodiscard]] std::vector<std::string> validate() const;
};

}  // namespace blackbox
