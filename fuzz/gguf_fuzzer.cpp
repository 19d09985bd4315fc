// libFuzzer target for the GGUF reader. Any input must either parse or throw flux::Error; every
// other exception, crash or sanitizer report is a bug. See docs/fuzzing.md.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "base/error.hpp"
#include "formats/gguf.hpp"

namespace {

// Reads everything a successful parse produced, so a value or span that points outside the input
// shows up as a sanitizer report here rather than in some later consumer.
std::uint64_t walk(const flux::gguf::Value& value) {
  if (const auto* array = std::get_if<flux::gguf::Array>(&value.data)) {
    std::uint64_t sum = array->items.size();
    for (const auto& item : array->items) sum += walk(item);
    return sum;
  }
  if (const auto* text = std::get_if<std::string>(&value.data)) {
    std::uint64_t sum = 0;
    for (const char c : *text) sum += static_cast<unsigned char>(c);
    return sum;
  }
  return static_cast<std::uint64_t>(value.type());
}

std::uint64_t walk(const flux::gguf::File& file) {
  std::uint64_t sum = 0;
  const auto& metadata = file.metadata();
  for (const auto& [key, value] : metadata.entries()) {
    sum += key.size() + walk(value);
    if (metadata.find(key) != &value) __builtin_trap();  // lookup must agree with the entries
    try {
      // The typed getters may reject a value; they must do so with a FormatError only.
      if (value.is_integer()) sum += metadata.get_uint(key);
      if (value.type() == flux::gguf::ValueType::String) sum += metadata.get_string(key).size();
      if (value.type() == flux::gguf::ValueType::Array) sum += metadata.get_float_array(key).size();
    } catch (const flux::FormatError&) {
    }
  }
  const auto bytes = file.bytes();
  for (const auto& tensor : file.tensors()) {
    if (tensor.data.size() != tensor.n_bytes) __builtin_trap();
    if (tensor.data.data() < bytes.data() ||
        tensor.data.data() + tensor.data.size() > bytes.data() + bytes.size()) {
      __builtin_trap();
    }
    if (file.find_tensor(tensor.name) != &tensor) __builtin_trap();
    for (const std::byte b : tensor.data) sum += static_cast<std::uint8_t>(b);
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto file = flux::gguf::File::parse(bytes, "fuzz.gguf");
    volatile std::uint64_t sink = walk(file);
    (void)sink;
  } catch (const flux::Error&) {
    // Rejected input: the expected outcome for most of it.
  }
  return 0;
}
