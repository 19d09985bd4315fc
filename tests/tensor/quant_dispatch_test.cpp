// The entry points' contract: which types are implemented, what each pairs with, and the errors
// a caller gets for types or lengths that cannot work.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.hpp"
#include "tensor/dtype.hpp"
#include "tensor/quant.hpp"

namespace flux {
namespace {

// Runs `call` and returns the UnsupportedError message it throws ("" when it does not).
template <class Call>
std::string unsupported_message(Call call) {
  try {
    call();
  } catch (const UnsupportedError& e) {
    return e.what();
  }
  return "";
}

TEST(QuantDispatch, TypeTableSupportedFlagMatchesTheImplementation) {
  for (std::uint32_t id = 0; id < 64; ++id) {
    const auto t = type_traits(id);
    if (!t) continue;
    const auto type = static_cast<TensorType>(id);
    const std::int64_t n = static_cast<std::int64_t>(t->block_size) * 2;
    std::vector<std::byte> zeros(t->block_bytes * 2);
    std::vector<float> out(static_cast<std::size_t>(n));
    if (t->supported) {
      EXPECT_NO_THROW(dequantize_row(type, zeros.data(), out.data(), n)) << t->name;
      const TensorType activation = vec_dot_type(type);
      std::vector<std::byte> x(row_bytes(activation, n));
      EXPECT_EQ(vec_dot(type, zeros.data(), x.data(), n), 0.0f) << t->name;
    } else {
      const std::string message =
          unsupported_message([&] { dequantize_row(type, zeros.data(), out.data(), n); });
      EXPECT_NE(message.find(std::string(t->name)), std::string::npos) << message;
      EXPECT_THROW(vec_dot(type, zeros.data(), zeros.data(), n), UnsupportedError) << t->name;
      EXPECT_THROW(vec_dot_type(type), UnsupportedError) << t->name;
      EXPECT_FALSE(can_quantize(type)) << t->name;
    }
  }
}

TEST(QuantDispatch, EncodableTypes) {
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0,
                          TensorType::Q8_1, TensorType::Q8_K, TensorType::Q4_0, TensorType::Q4_1,
                          TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    EXPECT_TRUE(can_quantize(type)) << type_name(type);
  }
  for (TensorType type : {TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
                          TensorType::I8, TensorType::F64}) {
    EXPECT_FALSE(can_quantize(type)) << type_name(type);
    std::vector<float> x(256);
    std::vector<std::byte> out(1024);
    const std::string message =
        unsupported_message([&] { quantize_row(type, x.data(), out.data(), 256); });
    EXPECT_NE(message.find(std::string(type_name(type))), std::string::npos) << message;
  }
}

TEST(QuantDispatch, ActivationTypesFollowLlamaCpp) {
  EXPECT_EQ(vec_dot_type(TensorType::F32), TensorType::F32);
  EXPECT_EQ(vec_dot_type(TensorType::F16), TensorType::F16);
  EXPECT_EQ(vec_dot_type(TensorType::BF16), TensorType::BF16);
  EXPECT_EQ(vec_dot_type(TensorType::Q4_0), TensorType::Q8_0);
  EXPECT_EQ(vec_dot_type(TensorType::Q8_0), TensorType::Q8_0);
  EXPECT_EQ(vec_dot_type(TensorType::Q4_1), TensorType::Q8_1);
  EXPECT_EQ(vec_dot_type(TensorType::Q4_K), TensorType::Q8_K);
  EXPECT_EQ(vec_dot_type(TensorType::Q5_K), TensorType::Q8_K);
  EXPECT_EQ(vec_dot_type(TensorType::Q6_K), TensorType::Q8_K);
  // Not weight types in llama.cpp; they pair with themselves here.
  EXPECT_EQ(vec_dot_type(TensorType::Q8_1), TensorType::Q8_1);
  EXPECT_EQ(vec_dot_type(TensorType::Q8_K), TensorType::Q8_K);
}

TEST(QuantDispatch, UnknownTypeIdIsUnsupported) {
  const auto bogus = static_cast<TensorType>(4);  // removed from GGUF long ago
  float out[32];
  std::byte in[64]{};
  const std::string message = unsupported_message([&] { dequantize_row(bogus, in, out, 32); });
  EXPECT_NE(message.find("4"), std::string::npos) << message;
  EXPECT_THROW(vec_dot_type(bogus), UnsupportedError);
  EXPECT_FALSE(can_quantize(bogus));
}

TEST(QuantDispatch, BadLengthsAndPointersAreInvalidArguments) {
  std::vector<float> x(64);
  std::vector<std::byte> q(1024);
  EXPECT_THROW(quantize_row(TensorType::Q4_0, x.data(), q.data(), 33), InvalidArgument);
  EXPECT_THROW(quantize_row(TensorType::Q4_K, x.data(), q.data(), 64), InvalidArgument);
  EXPECT_THROW(dequantize_row(TensorType::Q8_0, q.data(), x.data(), -32), InvalidArgument);
  EXPECT_THROW(vec_dot(TensorType::Q4_0, q.data(), q.data(), 48), InvalidArgument);
  EXPECT_THROW(dequantize_row(TensorType::Q8_0, nullptr, x.data(), 32), InvalidArgument);
  EXPECT_THROW(vec_dot(TensorType::F32, q.data(), nullptr, 4), InvalidArgument);
  try {
    quantize_row(TensorType::Q4_K, x.data(), q.data(), 64);
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("q4_K"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
}

TEST(QuantDispatch, EmptyRowsAreNoOps) {
  EXPECT_NO_THROW(dequantize_row(TensorType::Q4_K, nullptr, nullptr, 0));
  EXPECT_NO_THROW(quantize_row(TensorType::Q4_0, nullptr, nullptr, 0));
  EXPECT_EQ(vec_dot(TensorType::Q6_K, nullptr, nullptr, 0), 0.0f);
}

}  // namespace
}  // namespace flux
