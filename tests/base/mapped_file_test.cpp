#include "base/mapped_file.hpp"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "base/error.hpp"

namespace flux {
namespace {

TEST(MappedFile, MapsBytesOfAFile) {
  const auto path = std::filesystem::temp_directory_path() / "flux_mapped_file_test.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << "hello";
  }
  MappedFile file(path);
  ASSERT_EQ(file.bytes().size(), 5u);
  EXPECT_EQ(static_cast<char>(file.bytes()[0]), 'h');
  MappedFile moved = std::move(file);
  EXPECT_EQ(moved.bytes().size(), 5u);
  std::filesystem::remove(path);
}

TEST(MappedFile, MissingFileIsAClearError) {
  try {
    MappedFile file("/nonexistent/flux.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/flux.gguf"), std::string::npos);
  }
}

}  // namespace
}  // namespace flux
