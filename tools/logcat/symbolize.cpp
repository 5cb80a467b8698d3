#include "symbolize.hpp"

#include <cxxabi.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

namespace logcat {
namespace {

std::string demangle(const char* name) {
  int status = 0;
  char* text = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && text != nullptr ? text : name;
  std::free(text);
  return out;
}

std::string hex(const unsigned char* bytes, int n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

// One libdwfl session for a crash's modules: each reported at its run-time load bias, from
// its file, if that file still has the build id it had.
class Session {
 public:
  Session() : dwfl_(dwfl_begin(&kCallbacks)) {}
  ~Session() {
    if (dwfl_ != nullptr) dwfl_end(dwfl_);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Dwfl_Module* module(const blackbox::LoadedModule& m) {
    const auto it = modules_.find(m.start);
    if (it != modules_.end()) return it->second;
    Dwfl_Module* mod = nullptr;
    if (dwfl_ != nullptr && !m.path.empty() && m.path[0] == '/') {
      dwfl_report_begin_add(dwfl_);
      mod = dwfl_report_elf(dwfl_, m.path.c_str(), m.path.c_str(), -1, m.load_bias, true);
      dwfl_report_end(dwfl_, nullptr, nullptr);
      if (mod != nullptr) {
        const unsigned char* bits = nullptr;
        GElf_Addr vaddr = 0;
        const int n = dwfl_module_build_id(mod, &bits, &vaddr);
        if (n <= 0 || hex(bits, n) != m.build_id) mod = nullptr;  // another build now
      }
    }
    modules_[m.start] = mod;
    return mod;
  }

 private:
  static inline char* debuginfo_path_ = nullptr;
  static constexpr Dwfl_Callbacks kCallbacks = {dwfl_build_id_find_elf,
                                                dwfl_standard_find_debuginfo,
                                                dwfl_offline_section_address, &debuginfo_path_};
  Dwfl* dwfl_;
  std::map<std::uint64_t, Dwfl_Module*> modules_;
};

// The source line of `pc`. libdw finds its compilation unit through .debug_aranges, which
// clang does not emit by default: without it, look through the units' own ranges.
void source_line(Dwfl_Module* mod, std::uint64_t pc, Frame& f) {
  const char* file = nullptr;
  int lineno = 0;
  if (Dwfl_Line* line = dwfl_module_getsrc(mod, pc); line != nullptr) {
    file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
  } else {
    Dwarf_Addr bias = 0;
    for (Dwarf_Die* cu = dwfl_module_nextcu(mod, nullptr, &bias); cu != nullptr;
         cu = dwfl_module_nextcu(mod, cu, &bias)) {
      if (dwarf_haspc(cu, pc - bias) != 1) continue;
      if (Dwarf_Line* unit_line = dwarf_getsrc_die(cu, pc - bias); unit_line != nullptr) {
        file = dwarf_linesrc(unit_line, nullptr, nullptr);
        dwarf_lineno(unit_line, &lineno);
      }
      break;
    }
  }
  if (file != nullptr) {
    f.file = file;
    f.line = lineno;
  }
}

}  // namespace

namespace {
bool g_read_module_files = true;  // logcat is single-threaded where it renders
}  // namespace

void set_read_module_files(bool read) noexcept { g_read_module_files = read; }

std::vector<Frame> symbolize(const blackbox::CrashInfo& crash) {
  std::size_t first = 0;
  if (crash.pc != 0) {
    const auto it = std::find(crash.frames.begin(), crash.frames.end(), crash.pc);
    if (it != crash.frames.end()) first = static_cast<std::size_t>(it - crash.frames.begin());
  }
  Session session;
  std::vector<Frame> out;
  for (std::size_t i = first; i < crash.frames.size(); ++i) {
    Frame f;
    f.address = crash.frames[i];
    // A return address is the instruction after the call: look up the call itself. The
    // interrupted instruction is exact.
    const std::uint64_t pc = f.address == crash.pc ? f.address : f.address - 1;
    const auto m = std::find_if(crash.modules.begin(), crash.modules.end(),
                                [&](const auto& mod) { return pc >= mod.start && pc < mod.end; });
    if (m != crash.modules.end()) {
      f.module = m->path;
      f.build_id = m->build_id;
      f.module_offset = f.address - m->load_bias;
      if (Dwfl_Module* mod = g_read_module_files ? session.module(*m) : nullptr; mod != nullptr) {
        f.module_found = true;
        GElf_Off offset = 0;
        GElf_Sym sym;
        if (const char* name =
                dwfl_module_addrinfo(mod, pc, &offset, &sym, nullptr, nullptr, nullptr)) {
          f.function = demangle(name);
          f.function_offset = f.address - (pc - offset);
        }
        source_line(mod, pc, f);
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace logcat
