// The layers point one way (docs/architecture.md, "Layers"): every `#include "..."` in src/,
// include/ and tools/ is checked against the layer table below. A file may include its own
// component's headers and any lower layer's; never a higher layer's, never a sibling's.
// The checker is tested on trees made here (so it can fail), then run on the real tree.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace {

// Where a file sits: its layer (0 lowest) and component (siblings share a layer).
struct Place {
  int layer = -1;  // -1: in no layer (an error for library code)
  std::string component;
};

// The public headers belong to layers too: pure data (levels, config, stats, the record
// wire form) is format; the producer's fast path is the ring writer's; the readers' API is
// reader's; recovery is the archive writer's; the logging API wires everything (core).
const std::map<std::string, Place>& public_headers() {
  static const std::map<std::string, Place> table = {
      {"blackbox/version.hpp", {1, "format"}},
      {"blackbox/level.hpp", {1, "format"}},
      {"blackbox/config.hpp", {1, "format"}},
      {"blackbox/stats.hpp", {1, "format"}},
      {"blackbox/log_histogram.hpp", {1, "format"}},
      {"blackbox/metric_values.hpp", {1, "format"}},
      {"blackbox/detail/record.hpp", {1, "format"}},
      {"blackbox/detail/arg_type.hpp", {1, "format"}},
      {"blackbox/detail/template_string.hpp", {1, "format"}},
      {"blackbox/detail/site.hpp", {2, "ring"}},
      {"blackbox/detail/producer.hpp", {2, "ring"}},
      {"blackbox/detail/encode.hpp", {2, "ring"}},
      {"blackbox/detail/probes.hpp", {1, "format"}},
      {"blackbox/detail/record_probe.hpp", {2, "ring"}},
      {"blackbox/detail/rate_limit.hpp", {2, "ring"}},
      {"blackbox/detail/printf_string.hpp", {1, "format"}},
      {"blackbox/reader.hpp", {3, "reader"}},
      {"blackbox/control.hpp", {1, "format"}},
      {"blackbox/text.hpp", {3, "reader"}},
      {"blackbox/recovery.hpp", {3, "archive"}},
      {"blackbox/retention.hpp", {3, "archive"}},
      {"blackbox/trace.hpp", {4, "core"}},
      {"blackbox/blackbox.hpp", {4, "core"}},
      {"blackbox/span.hpp", {4, "core"}},
      {"blackbox/detail/runtime_site.hpp", {4, "core"}},
      {"blackbox/spdlog_sink.hpp", {4, "core"}},
      {"blackbox/capture.hpp", {4, "core"}},
      {"blackbox/metrics.hpp", {4, "core"}},
  };
  return table;
}

const std::map<std::string, Place>& src_folders() {
  static const std::map<std::string, Place> table = {
      {"sys", {0, "sys"}},         {"format", {1, "format"}}, {"ring", {2, "ring"}},
      {"archive", {3, "archive"}}, {"reader", {3, "reader"}}, {"crash", {3, "crash"}},
      {"core", {4, "core"}},
  };
  return table;
}

// Within format, the chunk codec's two halves share chunk_body.hpp and nothing else (as
// zstd's compress and decompress share only common/).
bool codec_halves_meet(const std::string& from, const std::string& to) {
  const auto half = [](const std::string& p) {
    if (p.find("format/chunk_encoder") == 0) return 1;
    if (p.find("format/chunk_decoder") == 0) return 2;
    return 0;
  };
  return half(from) != 0 && half(to) != 0 && half(from) != half(to);
}

// `path` relative to the root ("src/ring/ring_memory.cpp", "include/blackbox/level.hpp").
Place place_of(const std::string& path) {
  if (path.rfind("include/", 0) == 0) {
    const auto it = public_headers().find(path.substr(8));
    return it == public_headers().end() ? Place{} : it->second;
  }
  if (path.rfind("src/", 0) == 0) {
    const std::string folder = path.substr(4, path.find('/', 4) - 4);
    const auto it = src_folders().find(folder);
    return it == src_folders().end() ? Place{} : it->second;
  }
  return {};
}

std::vector<std::string> includes_of(const fs::path& file) {
  static const std::regex include(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<std::string> out;
  std::ifstream in(file);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, include)) out.push_back(m[1]);
  }
  return out;
}

// Every violation under `root`, one line each: "FROM includes TO: why".
std::vector<std::string> check_layers(const fs::path& root) {
  std::vector<std::string> out;
  const auto rel = [&](const fs::path& p) { return fs::relative(p, root).generic_string(); };
  for (const char* top : {"src", "include", "tools"}) {
    if (!fs::exists(root / top)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      if (!entry.is_regular_file()) continue;
      const std::string ext = entry.path().extension().string();
      if (ext != ".cpp" && ext != ".hpp") continue;
      const std::string from = rel(entry.path());
      const bool tool = from.rfind("tools/", 0) == 0;
      const Place here = place_of(from);
      if (!tool && here.layer < 0) {
        out.push_back(from + ": in no layer (add its folder or header to the layer table)");
        continue;
      }
      for (const std::string& name : includes_of(entry.path())) {
        std::string to;
        if (name.rfind("blackbox/", 0) == 0) {
          to = "include/" + name;
        } else if (fs::exists(entry.path().parent_path() / name)) {
          to = rel(entry.path().parent_path() / name);  // beside the includer
        } else {
          to = "src/" + name;
        }
        if (tool) {
          if (to.rfind("src/", 0) == 0) {
            out.push_back(from + " includes " + to + ": tools use the public API only");
          }
          continue;
        }
        const Place there = place_of(to);
        if (there.layer < 0) {
          out.push_back(from + " includes " + to + ": not a header of any layer");
        } else if (there.layer > here.layer) {
          out.push_back(from + " includes " + to + ": a higher layer (" + there.component +
                        " above " + here.component + ")");
        } else if (there.layer == here.layer && there.component != here.component) {
          out.push_back(from + " includes " + to + ": a sibling (" + here.component +
                        " must not know " + there.component + ")");
        } else if (codec_halves_meet(from.substr(4), to.substr(4))) {
          out.push_back(from + " includes " + to +
                        ": the chunk encoder and decoder share only chunk_body.hpp");
        }
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(Layers, TheCheckerFindsEveryKindOfWrongInclude) {
  const fs::path root = fs::path(blackbox::test::make_temp_dir("layers")) / "tree";
  write(root / "src/sys/sys.hpp", "#pragma once\n");
  write(root / "src/format/frame.hpp", "#include \"sys/sys.hpp\"\n");
  write(root / "src/format/chunk_body.hpp", "");
  write(root / "src/format/chunk_encoder.cpp", "#include \"format/chunk_body.hpp\"\n");
  write(root / "src/format/chunk_decoder.cpp", "#include \"format/chunk_encoder.hpp\"\n");
  write(root / "src/format/chunk_encoder.hpp", "");
  write(root / "src/ring/ring_memory.hpp",
        "#include \"format/frame.hpp\"\n#include \"core/logger.hpp\"\n");
  write(root / "src/archive/flusher.cpp",
        "  #  include \"reader/decode.hpp\"\n#include \"blackbox/level.hpp\"\n");
  write(root / "src/reader/decode.hpp", "#include \"blackbox/blackbox.hpp\"\n");
  write(root / "src/core/logger.hpp", "#include \"archive/flusher.hpp\"\n");
  write(root / "src/extra/thing.cpp", "");
  write(root / "include/blackbox/level.hpp", "");
  write(root / "include/blackbox/blackbox.hpp", "#include \"blackbox/level.hpp\"\n");
  write(root / "tools/logcat/main.cpp",
        "#include \"render.hpp\"\n#include \"blackbox/reader.hpp\"\n#include \"ring/x.hpp\"\n");
  write(root / "tools/logcat/render.hpp", "");
  const std::vector<std::string> expected = {
      "src/archive/flusher.cpp includes src/reader/decode.hpp: a sibling (archive must not "
      "know reader)",
      "src/extra/thing.cpp: in no layer (add its folder or header to the layer table)",
      "src/format/chunk_decoder.cpp includes src/format/chunk_encoder.hpp: the chunk encoder "
      "and decoder share only chunk_body.hpp",
      "src/reader/decode.hpp includes include/blackbox/blackbox.hpp: a higher layer (core "
      "above reader)",
      "src/ring/ring_memory.hpp includes src/core/logger.hpp: a higher layer (core above ring)",
      "tools/logcat/main.cpp includes src/ring/x.hpp: tools use the public API only",
  };
  EXPECT_EQ(check_layers(root), expected);
}

TEST(Layers, EveryIncludeOfTheLibraryAndToolsPointsDown) {
  const std::vector<std::string> violations = check_layers(BBX_SOURCE_DIR);
  std::string all;
  for (const auto& v : violations) all += v + "\n";
  EXPECT_TRUE(violations.empty()) << all;
}

}  // namespace
