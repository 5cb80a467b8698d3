#include "render.hpp"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "control.hpp"
#include "json.hpp"
#include "metrics.hpp"
#include "select.hpp"
#include "symbolize.hpp"

namespace logcat {

namespace {

// What si_code says about how the signal came, for the signals the handler catches.
const char* signal_cause(int signal, int code) {
  if (code == SI_USER) return "sent by kill()";
  if (code == SI_TKILL) return "raised by the process (raise, abort, pthread_kill)";
  switch (signal) {
    case SIGSEGV:
      return code == SEGV_MAPERR   ? "address not mapped"
             : code == SEGV_ACCERR ? "no permission for the access"
                                   : "invalid memory access";
    case SIGBUS:
      return code == BUS_ADRALN   ? "misaligned address"
             : code == BUS_ADRERR ? "address beyond the object (a truncated mapped file?)"
                                  : "bus error";
    case SIGFPE:
      return code == FPE_INTDIV   ? "integer divide by zero"
             : code == FPE_INTOVF ? "integer overflow"
                                  : "arithmetic exception";
    case SIGILL:
      return code == ILL_ILLOPN || code == ILL_ILLOPC ? "illegal instruction (a trap?)"
                                                      : "illegal instruction";
    case SIGABRT:
      return "abort";
    default:
      return "";
  }
}

std::string hex_address(std::uint64_t address) { return fmt::format("{:#x}", address); }

}  // namespace

void render_end(std::int32_t pid, const std::string& how, Format format, Text& out) {
  switch (format) {
    case Format::raw:
      return;
    case Format::json:
      out += "{\"end\":{\"pid\":";
      append_int(pid, out);
      string_member("how", how, out);
      out += "}}\n";
      return;
    case Format::logfmt:
      out += "end=";
      out += how;
      out += " pid=";
      append_int(pid, out);
      out += '\n';
      return;
    case Format::text:
      out += "--- pid ";
      append_int(pid, out);
      out += how == "exited" ? " exited\n"
                             : " died without a crash report (killed: SIGKILL, the OOM killer?)\n";
      return;
  }
}

void render_crash(const Crashed& crashed, const std::vector<LastRecord>& threads, Format format,
                  bool utc, Text& out) {
  const blackbox::CrashInfo& c = crashed.crash;
  const std::vector<Frame> frames = symbolize(c);
  Renderer clock(Format::text, false, utc);
  if (format == Format::json) {
    out += "{\"crash\":{\"pid\":";
    append_int(crashed.pid, out);
    string_member("app", crashed.app, out);
    int_member("signal", c.signal, out);
    string_member("signal_name", signal_name(c.signal), out);
    int_member("code", c.code, out);
    string_member("cause", signal_cause(c.signal, c.code), out);
    string_member("fault_address", hex_address(c.fault_address), out);
    int_member("tid", c.tid, out);
    string_member("thread", c.thread_name, out);
    int_member("time_unix_nano", c.time_ns, out);
    string_member("exception", c.exception, out);
    if (c.has_trace) {
      out += ",\"trace_id\":\"";
      append_hex(c.trace_id.data(), 16, out);
      out += "\",\"span_id\":\"";
      append_hex(c.span_id.data(), 8, out);
      out += '"';
    }
    out += ",\"frames\":[";
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const Frame& f = frames[i];
      out += i == 0 ? "{\"address\":" : ",{\"address\":";
      append_json_string(hex_address(f.address), out);
      if (!f.function.empty()) string_member("function", f.function, out);
      if (!f.file.empty()) {
        string_member("file", f.file, out);
        int_member("line", f.line, out);
      }
      if (!f.module.empty()) {
        string_member("module", f.module, out);
        string_member("build_id", f.build_id, out);
        string_member("module_offset", hex_address(f.module_offset), out);
        out += f.module_found ? ",\"module_found\":true" : ",\"module_found\":false";
      }
      out += '}';
    }
    out += "],\"threads\":[";
    for (std::size_t i = 0; i < threads.size(); ++i) {
      const LastRecord& t = threads[i];
      out += i == 0 ? "{\"tid\":" : ",{\"tid\":";
      append_int(t.tid, out);
      string_member("thread", t.thread_name, out);
      int_member("last_record_time_unix_nano", t.time_ns, out);
      if (t.has_trace) {
        out += ",\"trace_id\":\"";
        append_hex(t.trace_id.data(), 16, out);
        out += '"';
      }
      out += '}';
    }
    out += "]";
    if (crashed.telemetry) {
      out += ",\"telemetry\":";
      out += crash_telemetry_json(*crashed.telemetry, c.time_ns);
    }
    if (crashed.metrics) {
      // The metrics as `logcat metrics -o json` gives them: {"pid":...,"metrics":[...]}.
      ProcessMetrics p;
      p.info.pid = crashed.pid;
      p.info.app = crashed.app;
      p.info.state = blackbox::RingState::crashed;
      p.snapshot = *crashed.metrics;
      p.snapshot.time_ns = c.time_ns;  // as of the crash (read from the file after it)
      std::string json = metrics_json(p);
      if (!json.empty() && json.back() == '\n') json.pop_back();
      out += ",\"metrics\":";
      out += json;
    }
    out += "}}\n";
    return;
  }
  if (format == Format::raw) return;  // messages only: a report is not one
  if (format == Format::logfmt) {
    // One line, like a record's: a fatal event of the process.
    out += "time=";
    clock.append_time(c.time_ns, true, out);
    out += " level=FATAL crash=";
    out += signal_name(c.signal);
    out += " cause=";
    append_logfmt_value(signal_cause(c.signal, c.code), out);
    out += " address=";
    out += hex_address(c.fault_address);
    out += " app=";
    append_logfmt_value(crashed.app, out);
    out += " pid=";
    append_int(crashed.pid, out);
    out += " tid=";
    append_int(c.tid, out);
    out += " thread=";
    append_logfmt_value(c.thread_name, out);
    if (!c.exception.empty()) {
      out += " exception=";
      append_logfmt_value(c.exception, out);
    }
    if (c.has_trace) {
      out += " trace_id=";
      append_hex(c.trace_id.data(), 16, out);
    }
    out += '\n';
    return;
  }
  out += "--- ";
  out += crashed.app;
  out += " (pid ";
  append_int(crashed.pid, out);
  out += ") crashed: ";
  out += signal_name(c.signal);
  out += " (";
  out += signal_cause(c.signal, c.code);
  out += ")";
  if (c.code > 0) {  // a fault: where
    out += " at address ";
    out += hex_address(c.fault_address);
  }
  out += ", thread ";
  append_int(c.tid, out);
  if (!c.thread_name.empty()) {
    out += " (";
    append_printable(c.thread_name, out);
    out += ')';
  }
  out += ", ";
  clock.append_time(c.time_ns, false, out);
  out += '\n';
  if (!c.exception.empty()) {
    out += "--- uncaught exception: ";
    append_printable(c.exception, out);
    out += '\n';
  }
  if (c.has_trace) {  // the request it was serving, and how to see all of it
    out += "--- in trace ";
    append_hex(c.trace_id.data(), 16, out);
    out += ", span ";
    append_hex(c.span_id.data(), 8, out);
    out += " (logcat --trace ";
    append_hex(c.trace_id.data(), 16, out);
    out += ")\n";
  }
  if (c.other_threads != 0) {
    out += "--- other threads crashing at the same time: ";
    append_int(c.other_threads, out);
    out += '\n';
  }
  if (crashed.telemetry) out += crash_telemetry_text(*crashed.telemetry, c.time_ns);
  if (crashed.metrics) out += crash_metrics_text(*crashed.metrics);
  out += "--- stack (innermost first):\n";
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    out += "    #";
    append_int(i, out);
    out += ' ';
    out += hex_address(f.address);
    out += ' ';
    if (!f.function.empty()) {
      out += f.function;
      if (f.file.empty()) {
        out += '+';
        out += hex_address(f.function_offset);
        out += " (";
        out += f.module;
        out += ')';
      } else {
        out += " at ";
        out += f.file;
        out += ':';
        append_int(f.line, out);
      }
    } else if (!f.module.empty()) {
      // No symbol: where in which build, for symbolising elsewhere.
      out += f.module;
      out += '+';
      out += hex_address(f.module_offset);
      out += " (build id ";
      out += f.build_id.empty() ? "unknown" : f.build_id;
      if (!f.module_found) out += "; not on disk, or another build";
      out += ')';
    } else {
      out += "(no module)";
    }
    out += '\n';
  }
  for (const LastRecord& t : threads) {
    out += "--- thread ";
    append_int(t.tid, out);
    out += " (";
    append_printable(t.thread_name, out);
    out += "): last record ";
    clock.append_time(t.time_ns, false, out);
    if (t.has_trace) {
      out += ", in trace ";
      append_hex(t.trace_id.data(), 16, out);
    }
    out += '\n';
  }
}

std::string signal_name(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(signal);
}

std::string clock_text(std::int64_t ns, bool utc, bool millis) {
  const std::tm tm = blackbox::text::calendar_time(ns, utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = buf;
  if (millis) out += fmt::format(".{:03}", (ns / 1'000'000) % 1000);
  return utc ? out + "Z" : out;
}

Output::Output() = default;
Output::~Output() { finish(); }

void Output::page_if_longer_than(std::size_t rows, std::string command) {
  may_page_ = rows > 0;
  page_rows_ = rows;
  pager_command_ = std::move(command);
}

bool Output::start_pager() {
  may_page_ = false;
  // The default pager must exist: output sent to a pager that failed to start is lost.
  const bool custom = !pager_command_.empty();
  if (!custom) {
    bool found = false;
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    for (std::size_t at = 0; at <= dirs.size() && !found;) {
      const std::size_t end = std::min(dirs.find(':', at), dirs.size());
      found = access((dirs.substr(at, end - at) + "/less").c_str(), X_OK) == 0;
      at = end + 1;
    }
    if (!found) return false;
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
  const pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return false;
  }
  if (pid == 0) {
    dup2(pipe_fds[0], STDIN_FILENO);
    if (custom) {
      execl("/bin/sh", "sh", "-c", pager_command_.c_str(), static_cast<char*>(nullptr));
    } else {
      execlp("less", "less", "-R", static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  close(pipe_fds[0]);
  fd_ = pipe_fds[1];
  pager_pid_ = pid;
  // The pager owns the terminal now: Ctrl-C is its to handle (less ignores it); logcat ends
  // when the pager quits (EPIPE).
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  return true;
}

void Output::finish() {
  may_page_ = false;  // what is held is shorter than a screen: written as it is
  flush();
  if (pager_pid_ > 0) {
    close(fd_);
    fd_ = STDOUT_FILENO;
    int status = 0;
    while (waitpid(pager_pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pager_pid_ = -1;
  }
}

bool Output::commit() {
  if (may_page_) {
    for (; counted_ < buffer_.size(); ++counted_) lines_ += buffer_.data()[counted_] == '\n';
    if (lines_ < page_rows_) return true;  // held: it may still fit on the screen
    start_pager();
  }
  return buffer_.size() < (1u << 20) || flush();
}

bool Output::flush() {
  if (may_page_) {
    commit();
    if (may_page_) return !closed_;  // still held (finish() writes it)
  }
  std::size_t done = 0;
  counted_ = 0;
  while (!closed_ && done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed_ = true;  // EPIPE: `| head` has what it wanted; stop quietly
      failed_ = !(n < 0 && errno == EPIPE);
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  return !closed_;
}

}  // namespace logcat
