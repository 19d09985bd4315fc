#pragma once
// The `flux` subcommands. Each file registers one subcommand on the app; errors are thrown as
// flux::Error and reported by main() as one line on stderr.

#include <CLI/CLI.hpp>

namespace flux::cli {

void add_run_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_make_model_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_bench_serve_command(CLI::App& app);

}  // namespace flux::cli
