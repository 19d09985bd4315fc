#pragma once

#include <cstdint>

namespace flux {

// A token's index in the model's vocabulary.
using TokenId = std::int32_t;

}  // namespace flux
