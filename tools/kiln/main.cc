// The `kiln` command: build, run, bench, inspect and compare engines. With no subcommand it runs
// the demo on the model shipped with Kiln.
#include <iostream>

#include "commands.h"
#include "kiln/status.h"

namespace kiln::cli {
int fail(const char* cmd, const Status& st) {
  std::cerr << "kiln " << cmd << ": " << st.toString() << "\n";
  return st.code() == StatusCode::kInvalidArgument || st.code() == StatusCode::kNotFound ? 2 : 1;
}
}  // namespace kiln::cli

int main(int argc, char** argv) {
  CLI::App app{"kiln: build optimized inference engines from ONNX models, and run, benchmark, inspect and check them.\n"
               "With no subcommand: builds an engine from the bundled example model, reloads it and runs it."};
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION_STRING);
  app.require_subcommand(0, 1);
  int exitCode = 0;
  kiln::cli::addBuildCommand(app, exitCode);
  kiln::cli::addRunCommand(app, exitCode);
  kiln::cli::addBenchCommand(app, exitCode);
  kiln::cli::addInspectCommand(app, exitCode);
  kiln::cli::addCompareCommand(app, exitCode);
  kiln::cli::addServeCommand(app, exitCode);
  std::string demoModel = KILN_DEFAULT_MODEL;
  app.add_option("--demo-model", demoModel, "Model the demo runs (default: the bundled tiny CNN)");
  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().empty()) return kiln::cli::runDemo(demoModel);
  return exitCode;
}
