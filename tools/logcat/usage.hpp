// logcat's command line beyond what CLI11 does by itself: options that take one value take
// exactly one (a repeatable option does not swallow the filterspecs after it), and a usage
// error says what was probably meant (a misspelt option, journalctl's -p for a priority).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace logcat {

// Every named option of `app` and its subcommands takes one value per occurrence: `-u svc
// blackbox:V` is an app and a filterspec, not two apps (repeat the option for more). The
// positional inputs still take any number.
void one_value_per_option(CLI::App& app);

// What to add to CLI11's message for `error`: " (did you mean --follow?)", a word on
// journalctl's -p, or "". `argv` is the command line as given.
[[nodiscard]] std::string usage_hint(const CLI::App& app, const CLI::ParseError& error, int argc,
                                     const char* const* argv);

}  // namespace logcat
