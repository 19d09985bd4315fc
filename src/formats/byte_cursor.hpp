#pragma once
// A bounds-checked, little-endian reader over bytes that may be hostile. Every read checks the
// remaining length first and fails with a FormatError naming the source, the field and the byte
// offset, so no parser built on it can read outside its span. Internal to src/formats.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace flux::gguf {

class ByteCursor {
 public:
  ByteCursor(std::span<const std::byte> bytes, std::string_view source)
      : bytes_(bytes), source_(source) {}

  std::uint64_t offset() const { return offset_; }
  std::uint64_t size() const { return bytes_.size(); }
  std::uint64_t remaining() const { return bytes_.size() - offset_; }
  std::string_view source() const { return source_; }

  // Throws FormatError "<source>: offset <at>: <message>".
  [[noreturn]] void fail_at(std::uint64_t at, std::string_view message) const;
  [[noreturn]] void fail(std::string_view message) const { fail_at(offset_, message); }

  // Fails unless `n` more bytes are left; `field` names what needs them.
  void require(std::uint64_t n, std::string_view field) const {
    if (n > remaining()) fail_truncated(n, field);
  }

  template <typename T>
  requires std::is_arithmetic_v<T> T read(std::string_view field) {
    require(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  std::span<const std::byte> read_bytes(std::uint64_t n, std::string_view field) {
    require(n, field);
    const auto out = bytes_.subspan(offset_, n);
    offset_ += n;
    return out;
  }

  // A GGUF string: u64 length, then that many bytes (not necessarily valid UTF-8). The length is
  // checked against the bytes left before anything is allocated.
  std::string read_string(std::string_view field);

 private:
  [[noreturn]] void fail_truncated(std::uint64_t n, std::string_view field) const;

  std::span<const std::byte> bytes_;
  std::string_view source_;
  std::uint64_t offset_ = 0;
};

}  // namespace flux::gguf
