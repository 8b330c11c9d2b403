// The `kiln` subcommands. Each registers itself on the app; its callback stores the exit code.
#pragma once

#include <CLI/CLI.hpp>

#include "kiln/status.h"

namespace kiln::cli {

void addBuildCommand(CLI::App& app, int& exitCode);
void addRunCommand(CLI::App& app, int& exitCode);
void addBenchCommand(CLI::App& app, int& exitCode);
void addInspectCommand(CLI::App& app, int& exitCode);
void addCompareCommand(CLI::App& app, int& exitCode);
void addServeCommand(CLI::App& app, int& exitCode);  // serve_cmd.cc
// With no subcommand: build the embedded model, save, reload and run it.
int runDemo(const std::string& model);

// Reports an error on stderr ("kiln <cmd>: <message>") and returns the exit code for it.
int fail(const char* cmd, const Status& st);

}  // namespace kiln::cli
