// GGUF v2/v3 reader: header, metadata, tensor infos, then checks of where each tensor's data lies.
// Nothing is trusted: every count, length, shape and offset is checked against the bytes that
// are actually there before it is used, and every failure names the file, field and offset.

#include <algorithm>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "base/error.hpp"
#include "formats/byte_cursor.hpp"
#include "formats/gguf.hpp"
#include "formats/gguf_layout.hpp"
#include "formats/gguf_metadata_reader.hpp"

namespace flux::gguf {
namespace {

struct Header {
  std::uint32_t version = 0;
  std::uint64_t n_tensors = 0;
  std::uint64_t tensor_count_at = 0;  // byte offset of the tensor count, for later errors
  std::uint64_t n_kv = 0;
};

// A parsed tensor info and where its fields sit in the file, for errors found after the loop.
struct TensorRecord {
  TensorInfo info;
  std::uint64_t offset_field_at = 0;
};

std::uint32_t check_version(ByteCursor& in) {
  const std::uint64_t at = in.offset();
  const auto version = in.read<std::uint32_t>("version");
  // A big-endian file has its small version number in the high bytes.
  if (version != 0 && (version & 0xFFFFu) == 0) {
    in.fail_at(at, fmt::format("version field {:#010x} looks byte-swapped: big-endian GGUF files "
                               "are not supported",
                               version));
  }
  if (version == 1) {
    in.fail_at(at, "GGUF version 1 is not supported (only versions 2 and 3 are)");
  }
  if (version != 2 && version != 3) {
    in.fail_at(at, fmt::format("unsupported GGUF version {} (only versions 2 and 3 are)", version));
  }
  return version;
}

Header read_header(ByteCursor& in) {
  const auto magic = in.read_bytes(layout::kMagic.size(), "magic");
  if (std::memcmp(magic.data(), layout::kMagic.data(), layout::kMagic.size()) != 0) {
    const std::string found(reinterpret_cast<const char*>(magic.data()), magic.size());
    in.fail_at(0, fmt::format("bad magic '{}': not a GGUF file (expected 'GGUF')",
                              layout::printable(found)));
  }
  Header header;
  header.version = check_version(in);
  header.tensor_count_at = in.offset();
  header.n_tensors = in.read<std::uint64_t>("tensor count");
  const std::uint64_t kv_count_at = in.offset();
  header.n_kv = in.read<std::uint64_t>("metadata key/value count");
  if (header.n_kv > in.remaining() / layout::kMinKeyValueBytes) {
    in.fail_at(kv_count_at, fmt::format("metadata key/value count {} needs at least {} bytes each "
                                        "but only {} bytes are left",
                                        header.n_kv, layout::kMinKeyValueBytes, in.remaining()));
  }
  return header;
}

std::uint64_t read_alignment(const MetadataSection& section, const ByteCursor& in) {
  const auto& entries = section.metadata.entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].first != layout::kAlignmentKey) continue;
    const Value& value = entries[i].second;
    const std::uint64_t at = section.value_offsets[i];
    const std::string field = fmt::format("metadata key '{}'", layout::kAlignmentKey);
    if (!value.is_integer()) {
      in.fail_at(at, fmt::format("{} has type {}, expected an unsigned integer", field,
                                 value_type_name(value.type())));
    }
    if (value.type() == ValueType::Int64 || value.type() == ValueType::Int32 ||
        value.type() == ValueType::Int16 || value.type() == ValueType::Int8) {
      if (value.as_int(layout::kAlignmentKey) < 0) {
        in.fail_at(at,
                   fmt::format("{} = {} is negative", field, value.as_int(layout::kAlignmentKey)));
      }
    }
    const std::uint64_t alignment = value.as_uint(layout::kAlignmentKey);
    if (!layout::is_power_of_two(alignment)) {
      in.fail_at(at, fmt::format("{} = {} is not a power of two", field, alignment));
    }
    return alignment;
  }
  return layout::kDefaultAlignment;
}

TensorRecord read_tensor_info(ByteCursor& in, std::uint64_t index, std::uint64_t alignment) {
  TensorRecord record;
  TensorInfo& info = record.info;
  info.name = in.read_string(fmt::format("tensor info #{} name", index));
  const std::string field = fmt::format("tensor '{}'", layout::printable(info.name));

  const std::uint64_t dims_at = in.offset();
  const auto n_dims = in.read<std::uint32_t>(field + " n_dims");
  if (n_dims > layout::kMaxDims) {
    in.fail_at(dims_at, fmt::format("{}: n_dims {} is more than the maximum of {}", field, n_dims,
                                    layout::kMaxDims));
  }
  info.dims.resize(n_dims);
  for (auto& dim : info.dims) dim = in.read<std::int64_t>(field + " dims");

  const std::uint64_t type_at = in.offset();
  const auto type_id = in.read<std::uint32_t>(field + " type");
  if (!type_traits(type_id)) {
    in.fail_at(type_at, fmt::format("{}: unknown tensor type id {}", field, type_id));
  }
  info.type = static_cast<TensorType>(type_id);

  const layout::TensorSizeResult size = layout::tensor_size(info.dims, info.type);
  if (!size.ok()) in.fail_at(dims_at, fmt::format("{}: {}", field, size.error));
  info.n_elements = size.size.n_elements;
  info.n_bytes = size.size.n_bytes;

  record.offset_field_at = in.offset();
  info.offset = in.read<std::uint64_t>(field + " data offset");
  if (info.offset % alignment != 0) {
    in.fail_at(record.offset_field_at,
               fmt::format("{}: data offset {} is not a multiple of the alignment {}", field,
                           info.offset, alignment));
  }
  return record;
}

// Points each tensor at its bytes after checking they lie inside the file and do not overlap.
void place_tensor_data(std::vector<TensorRecord>& records, const ByteCursor& in,
                       std::span<const std::byte> bytes, std::uint64_t data_offset) {
  for (TensorRecord& record : records) {
    TensorInfo& info = record.info;
    const bool inside = data_offset <= bytes.size() && info.offset <= bytes.size() - data_offset &&
                        info.n_bytes <= bytes.size() - data_offset - info.offset;
    if (!inside) {
      in.fail_at(record.offset_field_at,
                 fmt::format("tensor '{}': {} bytes of data at data offset {} (data section starts "
                             "at {}) lie outside the file of {} bytes",
                             layout::printable(info.name), info.n_bytes, info.offset, data_offset,
                             bytes.size()));
    }
    info.data = bytes.subspan(data_offset + info.offset, info.n_bytes);
  }

  std::vector<std::size_t> order(records.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return records[a].info.offset < records[b].info.offset;
  });
  const TensorRecord* previous = nullptr;
  for (const std::size_t i : order) {
    const TensorRecord& current = records[i];
    if (current.info.n_bytes == 0) continue;
    if (previous != nullptr &&
        current.info.offset < previous->info.offset + previous->info.n_bytes) {
      in.fail_at(current.offset_field_at,
                 fmt::format("tensor '{}': data [{}, {}) overlaps tensor '{}' data [{}, {})",
                             layout::printable(current.info.name), current.info.offset,
                             current.info.offset + current.info.n_bytes,
                             layout::printable(previous->info.name), previous->info.offset,
                             previous->info.offset + previous->info.n_bytes));
    }
    previous = &current;
  }
}

}  // namespace

File File::parse(std::span<const std::byte> bytes, std::string name) {
  File file;
  file.name_ = std::move(name);
  file.bytes_ = bytes;
  ByteCursor in(bytes, file.name_);

  const Header header = read_header(in);
  file.version_ = header.version;
  MetadataSection section = read_metadata(in, header.n_kv);
  file.alignment_ = read_alignment(section, in);
  file.metadata_ = std::move(section.metadata);

  // Checked before reserving, so a forged count cannot drive a huge allocation.
  if (header.n_tensors > in.remaining() / layout::kMinTensorInfoBytes) {
    in.fail_at(header.tensor_count_at,
               fmt::format("tensor count {} needs at least {} bytes of tensor info each but only "
                           "{} bytes are left",
                           header.n_tensors, layout::kMinTensorInfoBytes, in.remaining()));
  }
  std::vector<TensorRecord> records;
  records.reserve(header.n_tensors);
  for (std::uint64_t i = 0; i < header.n_tensors; ++i) {
    const std::uint64_t info_at = in.offset();
    TensorRecord record = read_tensor_info(in, i, file.alignment_);
    if (file.tensor_index_.contains(record.info.name)) {
      in.fail_at(info_at,
                 fmt::format("duplicate tensor name '{}'", layout::printable(record.info.name)));
    }
    file.tensor_index_.emplace(record.info.name, records.size());
    records.push_back(std::move(record));
  }

  const auto data_offset = layout::align_up(in.offset(), file.alignment_);
  if (!data_offset) {
    in.fail(fmt::format("data section offset overflows with alignment {}", file.alignment_));
  }
  file.data_offset_ = *data_offset;
  place_tensor_data(records, in, bytes, file.data_offset_);

  file.tensors_.reserve(records.size());
  for (TensorRecord& record : records) file.tensors_.push_back(std::move(record.info));
  return file;
}

File File::open(const std::filesystem::path& path) {
  auto mapping = std::make_shared<const MappedFile>(path);
  File file = parse(mapping->bytes(), path.string());
  // The spans point into the mapping, which stays put while any copy of the File holds it.
  file.mapping_ = std::move(mapping);
  return file;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace flux::gguf
