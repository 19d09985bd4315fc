#pragma once
// A buffered output file on write(2), so that every failure (disk full, I/O error) is seen with
// its errno and reported as a flux::Error naming the path. A sink destroyed before finish()
// removes the partial file it created. Internal to src/formats.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace flux::gguf {

class FileSink {
 public:
  explicit FileSink(std::filesystem::path path);  // creates or truncates; throws flux::Error
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  ~FileSink();

  void write(std::span<const std::byte> bytes);
  void write_zeros(std::uint64_t n);
  std::uint64_t offset() const { return offset_; }  // bytes written so far
  // Flushes and closes; throws flux::Error when any of it fails.
  void finish();

 private:
  void flush();
  void write_fully(std::span<const std::byte> bytes);
  [[noreturn]] void fail(const char* action, int error) const;

  std::filesystem::path path_;
  int fd_ = -1;
  bool is_regular_file_ = false;  // only regular files are removed on failure, never /dev/full
  std::vector<std::byte> buffer_;
  std::size_t buffered_ = 0;
  std::uint64_t offset_ = 0;
};

}  // namespace flux::gguf
