#include "formats/file_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux::gguf {
namespace {
constexpr std::size_t kBufferBytes = std::size_t{1} << 20;
}  // namespace

FileSink::FileSink(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("create", errno);
  struct stat st {};
  is_regular_file_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  buffer_.resize(kBufferBytes);
}

FileSink::~FileSink() {
  if (fd_ < 0) return;
  ::close(fd_);  // unfinished: the write failed or a fill callback threw
  if (is_regular_file_) {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
}

void FileSink::fail(const char* action, int error) const {
  throw Error(fmt::format("cannot {} '{}': {}", action, path_.string(), std::strerror(error)));
}

void FileSink::write(std::span<const std::byte> bytes) {
  offset_ += bytes.size();
  if (bytes.size() > buffer_.size() - buffered_) {
    flush();
    // Large blocks (tensor data) go straight to the file rather than through the buffer.
    if (bytes.size() >= buffer_.size()) {
      write_fully(bytes);
      return;
    }
  }
  std::memcpy(buffer_.data() + buffered_, bytes.data(), bytes.size());
  buffered_ += bytes.size();
}

void FileSink::write_zeros(std::uint64_t n) {
  static constexpr std::byte kZeros[256] = {};
  while (n > 0) {
    const std::uint64_t chunk = std::min<std::uint64_t>(n, sizeof(kZeros));
    write(std::span(kZeros, chunk));
    n -= chunk;
  }
}

void FileSink::flush() {
  write_fully(std::span(buffer_.data(), buffered_));
  buffered_ = 0;
}

void FileSink::write_fully(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", errno);
    }
    if (n == 0) fail("write", EIO);
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

void FileSink::finish() {
  flush();
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int error = errno;
    if (is_regular_file_) {
      std::error_code ignored;
      std::filesystem::remove(path_, ignored);
    }
    fail("close", error);
  }
}

}  // namespace flux::gguf
