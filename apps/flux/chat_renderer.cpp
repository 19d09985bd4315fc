#include "apps/flux/chat_renderer.hpp"

namespace flux::cli {

server::ChatRenderer make_chat_renderer(const Model&, const Tokenizer&, const std::string&) {
  return [](const nlohmann::json&, bool) -> std::string {
    throw server::ApiError(500, "chat templates are not wired yet", "server_error");
  };
}

}  // namespace flux::cli
