#pragma once
// Reads the key/value section of a GGUF file. Internal to src/formats.

#include <cstdint>
#include <vector>

#include "formats/byte_cursor.hpp"
#include "formats/gguf.hpp"

namespace flux::gguf {

struct MetadataSection {
  Metadata metadata;
  // Byte offset of each entry's value, parallel to metadata.entries(), so that later checks of a
  // value (general.alignment) can point at it.
  std::vector<std::uint64_t> value_offsets;
};

// Reads `count` key/value pairs at the cursor. Fails on a duplicate key, an unknown value type,
// a bool other than 0 or 1, arrays nested deeper than layout::kMaxArrayNesting, and any count or
// length the remaining bytes cannot hold.
MetadataSection read_metadata(ByteCursor& in, std::uint64_t count);

}  // namespace flux::gguf
