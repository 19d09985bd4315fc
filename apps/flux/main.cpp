// flux: the FluxInfer command line.

#include <cstdio>
#include <exception>
#include <new>

#include "apps/flux/commands.hpp"
#include "base/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"FluxInfer: fast LLM inference on the CPU", "flux"};
  app.require_subcommand(1);
  // Argument errors are one line, like every other error.
  app.failure_message([](const CLI::App*, const CLI::Error& e) { return "flux: error: " + std::string(e.what()) + "\n"; });
  app.set_version_flag("--version", "flux 0.1.0");
  flux::cli::add_run_command(app);
  flux::cli::add_tokenize_command(app);
  flux::cli::add_inspect_command(app);
  flux::cli::add_perplexity_command(app);
  flux::cli::add_make_model_command(app);
  flux::cli::add_bench_command(app);
  flux::cli::add_serve_command(app);
  flux::cli::add_bench_serve_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const flux::Error& e) {
    std::fprintf(stderr, "flux: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "flux: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flux: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
