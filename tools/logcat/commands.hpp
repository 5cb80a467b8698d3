// logcat's subcommands besides printing records.
#pragma once

#include <string>
#include <vector>

#include "export.hpp"
#include "select.hpp"
#include "sources.hpp"

namespace logcat {

// `logcat stats`: records per level, tag, call site and thread, top talkers, losses by
// cause, damaged ranges, and a histogram of the record rate over time. Returns the exit
// status.
int run_stats(Inputs& inputs, bool utc);

// `logcat verify`: reads every frame of every archive file (directories: each *.bbx in
// them) and every ring file, one line per file; lists each damaged range with its offset.
// 0 when everything is intact, 1 on any damage, 2 when an input cannot be opened.
int run_verify(const std::vector<std::string>& paths);

// `logcat recover [DIR]`: turns the ring files dead processes left in DIR (default: the ring
// directory) into archive files and removes them; one line per ring file. 0 when nothing
// failed, 1 when a ring could not be recovered, 2 without an archive directory.
int run_recover(const std::string& ring_dir, const std::string& archive_dir,
                const std::string& app);

// `logcat -F NAME`: the distinct values of a field, or of a record's tag, thread, level, pid
// or app, with their counts, most frequent first (journalctl -F). prepare_distinct() sets
// what the readers must decode (before the inputs open): as little as the name needs.
[[nodiscard]] bool is_record_fact(const std::string& name);  // tag thread level pid app
void prepare_distinct(const std::string& name, Selection& selection);
int run_distinct(Inputs& inputs, const Selection& selection, const std::string& name,
                 const ProcessLookup& process);

// `logcat --fields`: the names of the fields present (journalctl -N), from the call sites
// the archives define and the rings' records.
int run_field_names(Inputs& inputs, const Selection& selection);

}  // namespace logcat
