#pragma once
// Watches generated text for stop sequences. Text that might be the start of a stop sequence is
// held back until it is known not to be, so a stop string never reaches the caller.
//
// Matching is on bytes. Stop strings are UTF-8 and begin on a character boundary, so the held
// tail also begins on one: the matcher never splits a character that its input did not split
// (keeping characters whole across chunks is the detokenizer's job).

#include <string>
#include <string_view>
#include <vector>

namespace flux {

class StopMatcher {
 public:
  // Empty stop strings are ignored: they would match before any text at all.
  explicit StopMatcher(std::vector<std::string> stops);

  // Feeds new text; returns the text that is safe to emit now. After a match, stopped() is true
  // and the returned text ends right before the stop sequence; later pushes return nothing.
  // Stops are found in the order they complete in the stream (the earliest end; at equal ends
  // the longest), so the result does not depend on how the text was split into chunks.
  std::string push(std::string_view text);

  std::string flush();  // the held-back tail at the end of generation ("" after a match)
  bool stopped() const { return stopped_; }

 private:
  // Length of the longest suffix of held_ that is a proper prefix of some stop string.
  std::size_t longest_stop_prefix_suffix() const;

  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace flux
