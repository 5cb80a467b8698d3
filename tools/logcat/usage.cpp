#include "usage.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

namespace logcat {
namespace {

void collect_names(const CLI::App& app, std::vector<std::string>& out) {
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& name : o->get_lnames()) out.push_back("--" + name);
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    out.push_back(sub->get_name());
    collect_names(*sub, out);
  }
}

// Levenshtein distance, for short words.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

void one_value_per_option(CLI::App& app) {
  for (CLI::Option* o : app.get_options()) {
    if (!o->get_positional()) o->allow_extra_args(false);
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    one_value_per_option(*sub);
  }
}

std::string usage_hint(const CLI::App& app, const CLI::ParseError& error, int argc,
                       const char* const* argv) {
  // journalctl's -p is a priority; ours is a process id (adb logcat's --pid).
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "-p" || arg == "--pid") && !all_digits(argv[i + 1])) {
      return std::string(" (-p is a process id; for journalctl's priority use -l, e.g. -l ") +
             argv[i + 1] + ")";
    }
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&error) == nullptr) return "";
  // An option that is not one: the nearest name, if it is near (two edits at most).
  std::vector<std::string> names;
  collect_names(app, names);
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--")) continue;
    arg = arg.substr(0, arg.find('='));
    if (std::find(names.begin(), names.end(), arg) != names.end()) continue;
    const std::string* best = nullptr;
    std::size_t best_distance = 3;
    for (const std::string& name : names) {
      if (!name.starts_with("--")) continue;
      if (const std::size_t d = distance(arg, name); d < best_distance) {
        best_distance = d;
        best = &name;
      }
    }
    if (best != nullptr) return " (did you mean " + *best + "?)";
  }
  return "";
}

}  // namespace logcat
