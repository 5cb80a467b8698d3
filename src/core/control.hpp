// The process's side of the ring file's control area (format/control_area.hpp): requests
// from outside (`logcat ctl`) applied by the flusher thread once per pass, levels set for a
// while reverted when their time is up, and every change recorded as an audit record (tag
// "blackbox", level warn) so the archive keeps who changed what.
//
// Nothing here runs on the logging threads: a level change reaches them as the sites'
// thresholds, exactly as set_level() does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/level_spec.hpp"
#include "format/control_area.hpp"
#include "ring/ring_memory.hpp"

namespace blackbox::core {

// "info,net=debug": the default level, then each tag's own level (the last of each tag).
[[nodiscard]] std::string level_spec_text(const LevelSpec& spec);

// Shows `spec` and the timed levels in the control area (its seqlock). Callers serialise
// (the logger's mutex).
void publish_levels(ring::ControlArea& control, const LevelSpec& spec,
                    const std::vector<ring::TimedLevel>& timed) noexcept;

struct ControlContext {
  std::string dump_dir;  // where "dump" without a path writes
  std::string app;       // sanitised, for dump names
  bool archive = false;  // whether flush and rotate mean anything
  // The ring and archive directories: "dump PATH" never writes there (crash::DumpPathRules).
  std::vector<std::string> forbidden_dump_dirs;
};

// The flusher thread's side of the control area.
class ControlServer {
 public:
  explicit ControlServer(ControlContext context) : context_(std::move(context)) {}
  // Applies the requests waiting in `ring`'s control area and reverts timed levels whose
  // time is up (the each_pass hook). Returns FlusherSettings::kPass* flags.
  [[nodiscard]] unsigned serve(ring::RingMemory& ring);
  // After the pass (`ok`: what it wrote was written): answers the flushes and rotations it
  // asked for, so their requesters find them done.
  void after_pass(ring::RingMemory& ring, bool ok);

 private:
  ControlContext context_;
  bool started_ = false;
  std::uint64_t served_ = 0;                  // requests applied (requests_done once answered)
  std::vector<std::uint64_t> awaiting_pass_;  // flushes and rotations applied, not answered
  bool timed_levels_ = false;                 // levels set for a while may be waiting to expire
};

// "10m", "1h30m", "45s", "250ms".
[[nodiscard]] std::string short_duration(std::int64_t ns);

}  // namespace blackbox::core
