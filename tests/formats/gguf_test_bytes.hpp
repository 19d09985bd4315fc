#pragma once
// Helpers for GGUF tests: a builder of raw GGUF bytes (valid or deliberately not), and a way to
// parse bytes and get the FormatError message back.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.hpp"
#include "formats/gguf.hpp"

namespace flux::gguf::testing {

// Appends little-endian fields one at a time, so a test can write any sequence of bytes, including
// ones the writer would refuse to produce.
class GgufBytes {
 public:
  template <typename T>
  GgufBytes& scalar(T value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
    return *this;
  }
  GgufBytes& u8(std::uint8_t v) { return scalar(v); }
  GgufBytes& u32(std::uint32_t v) { return scalar(v); }
  GgufBytes& u64(std::uint64_t v) { return scalar(v); }
  GgufBytes& i64(std::int64_t v) { return scalar(v); }
  GgufBytes& raw(std::string_view text) {
    const auto* p = reinterpret_cast<const std::byte*>(text.data());
    bytes_.insert(bytes_.end(), p, p + text.size());
    return *this;
  }
  GgufBytes& str(std::string_view text) { return u64(text.size()).raw(text); }

  GgufBytes& header(std::uint32_t version, std::uint64_t n_tensors, std::uint64_t n_kv) {
    return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  }
  // A key with a scalar value of GGUF type `type`.
  template <typename T>
  GgufBytes& kv(std::string_view key, ValueType type, T value) {
    return str(key).u32(static_cast<std::uint32_t>(type)).scalar(value);
  }
  GgufBytes& kv_string(std::string_view key, std::string_view value) {
    return str(key).u32(static_cast<std::uint32_t>(ValueType::String)).str(value);
  }
  GgufBytes& tensor_info(std::string_view name, std::initializer_list<std::int64_t> dims,
                         std::uint32_t type, std::uint64_t offset) {
    str(name).u32(static_cast<std::uint32_t>(dims.size()));
    for (const std::int64_t dim : dims) i64(dim);
    return u32(type).u64(offset);
  }
  GgufBytes& pad_to(std::size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(std::byte{0});
    return *this;
  }
  GgufBytes& zeros(std::size_t n) {
    bytes_.insert(bytes_.end(), n, std::byte{0});
    return *this;
  }

  std::size_t size() const { return bytes_.size(); }
  std::span<const std::byte> bytes() const { return bytes_; }
  std::vector<std::byte>& vector() { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

// Parses bytes under the name "bad.gguf"; returns the FormatError message, or "" on success.
// Any other exception fails the test.
inline std::string parse_error(std::span<const std::byte> bytes) {
  try {
    File::parse(bytes, "bad.gguf");
    return {};
  } catch (const FormatError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected FormatError, got another exception: " << e.what();
    return e.what();
  }
}

// Expects a FormatError whose message starts with the file name and contains every fragment.
inline void expect_format_error(const GgufBytes& bytes,
                                std::initializer_list<std::string_view> fragments) {
  const std::string message = parse_error(bytes.bytes());
  ASSERT_FALSE(message.empty()) << "expected a FormatError, but the bytes parsed";
  EXPECT_EQ(message.rfind("bad.gguf: offset ", 0), 0u) << message;
  for (const std::string_view fragment : fragments) {
    EXPECT_NE(message.find(fragment), std::string::npos)
        << "message lacks '" << fragment << "': " << message;
  }
}

inline std::vector<std::byte> read_whole_file(const std::filesystem::path& path) {
  const MappedFile mapped(path);
  return {mapped.bytes().begin(), mapped.bytes().end()};
}

}  // namespace flux::gguf::testing
