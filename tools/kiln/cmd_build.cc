// `kiln build model.onnx -o model.engine`: builds and saves an engine.
#include <fstream>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "cli_common.h"
#include "commands.h"

namespace kiln::cli {

void addBuildCommand(CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("build", "Build an engine from an ONNX model and save it");
  struct Opts {
    std::string model, output, timingCache;
    ShapeOptions shapes;
    TargetOptions target;
    bool int8 = false, fp8 = false, verbose = false, report = false;
    std::string passes, dumpAfter, reportJson;
    std::vector<std::string> disabled, disabledTactics;
    int level = 3;
    uint64_t memoryLimit = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "ONNX model file")->required();
  cmd->add_option("-o,--output", o->output, "Engine file to write")->required();
  cmd->add_option("--shapes", o->shapes.shapes, "Fixed input shapes: name:1x3x224x224,other:1x128");
  cmd->add_option("--min-shapes", o->shapes.minShapes, "Smallest input shapes of the optimization profile");
  cmd->add_option("--opt-shapes", o->shapes.optShapes, "Input shapes the engine is tuned for");
  cmd->add_option("--max-shapes", o->shapes.maxShapes, "Largest input shapes of the optimization profile");
  o->target.addTo(cmd);
  cmd->add_flag("--int8", o->int8, "Allow INT8 layers (needs calibration; not yet available)");
  cmd->add_flag("--fp8", o->fp8, "Allow FP8 layers (not yet available)");
  cmd->add_option("--timing-cache", o->timingCache, "Timing cache file to read and update");
  cmd->add_option("--builder-optimization-level", o->level, "0-5: 0-2 choose tactics by heuristics, 3+ time them")
      ->check(CLI::Range(0, 5));
  cmd->add_option("--memory-limit", o->memoryLimit, "Most bytes the engine may use for intermediates (0: no limit)");
  cmd->add_option("--passes", o->passes,
                  "Optimization passes to run, comma-separated, in pipeline order ('none': no optimization). "
                  "Default: all of " + [] {
                    std::string s;
                    for (const auto& n : standardPassNames()) s += (s.empty() ? "" : ",") + n;
                    return s;
                  }());
  cmd->add_option("--disable-pass", o->disabled, "Skip this optimization pass (repeatable)");
  cmd->add_option("--disable-tactics", o->disabledTactics,
                  "Never choose tactics whose names start with this (repeatable; 'cpu_dnnl_': reference kernels only)");
  cmd->add_option("--dump-graph-after", o->dumpAfter, "Print the graph after this pass (to stderr)");
  cmd->add_flag("--report", o->report, "Print node counts before and after each optimization pass");
  cmd->add_option("--report-json", o->reportJson, "Write the build report (passes, layer counts per op) as JSON");
  cmd->add_flag("-v,--verbose", o->verbose, "Show progress and the build report");
  cmd->callback([o, &exitCode] {
    BuildConfig cfg;
    (void)o->target.apply(cfg);
    cfg.int8 = o->int8;
    cfg.fp8 = o->fp8;
    cfg.optimizationLevel = o->level;
    cfg.memoryLimit = o->memoryLimit;
    cfg.timingCachePath = o->timingCache;
    if (!o->passes.empty()) {
      size_t pos = 0;
      while (pos <= o->passes.size()) {
        size_t c = o->passes.find(',', pos);
        std::string name = o->passes.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
        if (!name.empty()) cfg.passes.push_back(name);
        if (c == std::string::npos) break;
        pos = c + 1;
      }
    }
    cfg.disabledPasses = o->disabled;
    cfg.disabledTactics = o->disabledTactics;
    cfg.dumpGraphAfter = o->dumpAfter;
    Status st = o->shapes.apply(cfg);
    if (!st.ok()) {
      exitCode = fail("build", st);
      return;
    }
    cfg.progress = progressBar(o->verbose);
    BuildReport rep;
    auto bytes = buildEngineFromFile(o->model, cfg, &rep);
    if (!bytes.ok()) {
      exitCode = fail("build", bytes.status());
      return;
    }
    std::ofstream f(o->output + ".tmp", std::ios::binary | std::ios::trunc);
    f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    f.close();
    if (!f || std::rename((o->output + ".tmp").c_str(), o->output.c_str()) != 0) {
      exitCode = fail("build", NotFound("cannot write '{}'", o->output));
      return;
    }
    fmt::print("built {} ({}) in {:.2f} s: {} layers from {} nodes\n", o->output, formatBytes(bytes->size()),
               rep.seconds, rep.layers, rep.nodesImported);
    fmt::print("memory: arena {} for intermediates (peak live {}, {} without reuse); weights {}\n",
               formatBytes(rep.arenaBytes), formatBytes(rep.peakLiveBytes), formatBytes(rep.naiveBytes),
               formatBytes(rep.weightBytes));
    if (o->report || o->verbose) {
      fmt::print("optimization passes (nodes before -> after):\n");
      for (const auto& ps : rep.passes)
        fmt::print("  {:20} {:5} -> {:5}  {:7.1f} ms  {}\n", ps.pass, ps.nodesBefore, ps.nodesAfter, ps.milliseconds, ps.detail);
    }
    if (!o->reportJson.empty()) {
      nlohmann::json j;
      j["model"] = o->model;
      j["nodes_imported"] = rep.nodesImported;
      j["layers"] = rep.layers;
      j["arena_bytes"] = rep.arenaBytes;
      j["peak_live_bytes"] = rep.peakLiveBytes;
      j["naive_bytes"] = rep.naiveBytes;
      j["build_seconds"] = rep.seconds;
      for (const auto& ps : rep.passes)
        j["passes"].push_back({{"pass", ps.pass}, {"nodes_before", ps.nodesBefore}, {"nodes_after", ps.nodesAfter},
                               {"changes", ps.changes}, {"detail", ps.detail}, {"ms", ps.milliseconds}});
      for (const auto& t : rep.tacticTimings) {
        nlohmann::json c = nlohmann::json::array();
        for (const auto& k : t.candidates)
          c.push_back({{"tactic", k.tactic},
                       {"us", k.microseconds},
                       {"passed_check", k.passedCheck},
                       {"capped_us", k.cappedMicroseconds}});
        j["tactic_timings"].push_back({{"layer", t.layer}, {"op", t.op}, {"chosen", t.chosen}, {"candidates", c}});
      }
      auto engine = Engine::loadBytes(*bytes);
      if (engine.ok()) {
        std::map<std::string, int> ops;
        for (const auto& l : (*engine)->layers()) ops[l.op]++;
        j["layer_ops"] = ops;
      }
      std::ofstream(o->reportJson) << j.dump(1) << "\n";
    }
    if (rep.tacticsTimed || rep.timingCacheHits)
      fmt::print("tactics: {} layers timed, {} from the timing cache\n", rep.tacticsTimed, rep.timingCacheHits);
    if (o->verbose && !rep.tacticTimings.empty()) {
      fmt::print("timed tactics (median us, then at the power cap where re-timed; * chosen, ! failed the "
                 "self-check):\n");
      for (const auto& t : rep.tacticTimings) {
        fmt::print("  {} ({})\n", t.layer, t.op);
        for (const auto& c : t.candidates)
          fmt::print("    {}{} {:9.1f} {:>9}  {}\n", c.tactic == t.chosen ? '*' : ' ', c.passedCheck ? ' ' : '!',
                     c.microseconds, c.cappedMicroseconds >= 0 ? fmt::format("{:.1f}", c.cappedMicroseconds) : "",
                     c.tactic);
      }
    }
  });
}

}  // namespace kiln::cli
