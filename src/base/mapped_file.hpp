#pragma once
// A read-only memory mapping of a whole file. Owns the bytes; everything that reads weights holds
// non-owning spans into it, so a model costs no copies and no more resident memory than it touches.

#include <cstddef>
#include <filesystem>
#include <span>

namespace flux {

class MappedFile {
 public:
  // Throws flux::Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void release() noexcept;

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace flux
