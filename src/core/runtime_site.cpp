// Call sites made at run time (detail/runtime_site.hpp): interned facts, one Site each.
#include "blackbox/detail/runtime_site.hpp"

#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

namespace blackbox::detail {
namespace {

struct RuntimeSite {
  std::string tag, file, function;
  StaticSite facts;
  Site site;
  RuntimeSite(std::string_view tag_, Level level, std::string_view file_, std::uint32_t line,
              std::string_view function_, const char* message_template, bool no_rate_limit)
      : tag(tag_),
        file(file_),
        function(function_),
        facts{level, tag.c_str(),  file.c_str(), line, function.c_str(), message_template,
              false, no_rate_limit},
        site(&facts) {}
};

struct Registry {
  std::mutex mutex;
  std::unordered_map<std::string, std::unique_ptr<RuntimeSite>> sites;  // guarded by mutex
};

Registry& registry() {
  static auto* r = new Registry;  // never destroyed: threads may log during exit
  return *r;
}

}  // namespace

Site* runtime_site(std::string_view tag, Level level, std::string_view file, std::uint32_t line,
                   std::string_view function, const char* message_template,
                   bool no_rate_limit) noexcept {
  try {
    std::string key;
    key.reserve(tag.size() + file.size() + function.size() + 16);
    key.append(tag).append(1, '\0').append(file).append(1, '\0').append(function);
    key.append(1, '\0').append(std::to_string(line)).append(1, static_cast<char>(level));
    key.append(message_template).append(1, no_rate_limit ? '\1' : '\0');
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto& slot = r.sites[key];
    if (!slot) {
      slot = std::make_unique<RuntimeSite>(tag, level, file, line, function, message_template,
                                           no_rate_limit);
    }
    return &slot->site;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

}  // namespace blackbox::detail
