#include "tensor/dtype.hpp"

#include <array>
#include <cctype>
#include <string>

#include <fmt/format.h>

#include "base/error.hpp"

namespace flux {
namespace {

struct Entry {
  std::uint32_t id;
  TypeTraits traits;
};

// Sizes follow ggml's block structs. Types without a reference implementation here are still
// listed so that files holding them can be read, sized and reported (but not run).
constexpr std::array kTypes = {
    Entry{0, {"f32", 1, 4, false, true}},
    Entry{1, {"f16", 1, 2, false, true}},
    Entry{2, {"q4_0", 32, 18, true, true}},
    Entry{3, {"q4_1", 32, 20, true, true}},
    Entry{6, {"q5_0", 32, 22, true, false}},
    Entry{7, {"q5_1", 32, 24, true, false}},
    Entry{8, {"q8_0", 32, 34, true, true}},
    Entry{9, {"q8_1", 32, 36, true, true}},
    Entry{10, {"q2_K", 256, 84, true, false}},
    Entry{11, {"q3_K", 256, 110, true, false}},
    Entry{12, {"q4_K", 256, 144, true, true}},
    Entry{13, {"q5_K", 256, 176, true, true}},
    Entry{14, {"q6_K", 256, 210, true, true}},
    Entry{15, {"q8_K", 256, 292, true, true}},
    Entry{16, {"iq2_xxs", 256, 66, true, false}},
    Entry{17, {"iq2_xs", 256, 74, true, false}},
    Entry{18, {"iq3_xxs", 256, 98, true, false}},
    Entry{19, {"iq1_s", 256, 50, true, false}},
    Entry{20, {"iq4_nl", 32, 18, true, false}},
    Entry{21, {"iq3_s", 256, 110, true, false}},
    Entry{22, {"iq2_s", 256, 82, true, false}},
    Entry{23, {"iq4_xs", 256, 136, true, false}},
    Entry{24, {"i8", 1, 1, false, false}},
    Entry{25, {"i16", 1, 2, false, false}},
    Entry{26, {"i32", 1, 4, false, false}},
    Entry{27, {"i64", 1, 8, false, false}},
    Entry{28, {"f64", 1, 8, false, false}},
    Entry{29, {"iq1_m", 256, 56, true, false}},
    Entry{30, {"bf16", 1, 2, false, true}},
    Entry{34, {"tq1_0", 256, 54, true, false}},
    Entry{35, {"tq2_0", 256, 66, true, false}},
    Entry{39, {"mxfp4", 32, 17, true, false}},
};

}  // namespace

std::optional<TypeTraits> type_traits(std::uint32_t type_id) {
  for (const auto& e : kTypes)
    if (e.id == type_id) return e.traits;
  return std::nullopt;
}

const TypeTraits& traits(TensorType type) {
  for (const auto& e : kTypes)
    if (e.id == static_cast<std::uint32_t>(type)) return e.traits;
  check(false, "TensorType value outside the type table");
  __builtin_unreachable();
}

std::string_view type_name(TensorType type) { return traits(type).name; }

std::optional<TensorType> parse_type_name(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kTypes) {
    std::string candidate(e.traits.name);
    for (auto& c : candidate) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (candidate == lower) return static_cast<TensorType>(e.id);
  }
  return std::nullopt;
}

std::size_t row_bytes(TensorType type, std::int64_t n) {
  const TypeTraits& t = traits(type);
  check(n >= 0 && static_cast<std::size_t>(n) % t.block_size == 0,
        "row length must be a multiple of the block size");
  return static_cast<std::size_t>(n) / t.block_size * t.block_bytes;
}

}  // namespace flux
