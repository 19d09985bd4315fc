#include "engine/stop_matcher.hpp"

#include <algorithm>
#include <utility>

namespace flux {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& stop) { return stop.empty(); });
}

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  held_.append(text);

  // No stop can start before held_: the text already emitted was, at every step, not the start
  // of a stop string. So a search of held_ alone finds every match the new text completes.
  std::size_t match_start = std::string::npos;
  std::size_t match_end = std::string::npos;
  for (const std::string& stop : stops_) {
    const std::size_t start = held_.find(stop);
    if (start == std::string::npos) continue;
    const std::size_t end = start + stop.size();
    // The stop that completes first in the stream wins; at equal ends the longer one, so the
    // cut is the same however the text was split into chunks.
    if (end < match_end || (end == match_end && start < match_start)) {
      match_start = start;
      match_end = end;
    }
  }
  if (match_start != std::string::npos) {
    stopped_ = true;
    held_.resize(match_start);
    return std::exchange(held_, {});
  }

  const std::size_t keep = longest_stop_prefix_suffix();
  std::string ready = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return ready;
}

std::string StopMatcher::flush() {
  if (stopped_) return {};
  return std::exchange(held_, {});
}

std::size_t StopMatcher::longest_stop_prefix_suffix() const {
  const std::string_view held = held_;
  std::size_t longest = 0;
  for (const std::string& stop : stops_) {
    // Proper prefixes only: a whole stop string would have matched in push().
    for (std::size_t length = std::min(stop.size() - 1, held.size()); length > longest;
         --length) {
      if (held.ends_with(std::string_view(stop).substr(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

}  // namespace flux
