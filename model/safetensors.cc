#include "model/safetensors.h"

#include <cstring>
#include <limits>

#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100 * 1024 * 1024;  // as in the reference implementation

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
};

// Parses one tensor entry of the header and returns a view into `file`.
Result<at::Tensor> tensor_view(const std::shared_ptr<MappedFile>& file, const JsonValue& entry,
                               uint64_t data_start, const std::string& where) {
  if (!entry.IsObject()) return Status::error(where + ": must be an object");
  R1_ASSIGN_OR_RETURN(std::string dtype_name, json_string(entry, "dtype", where));
  R1_ASSIGN_OR_RETURN(at::ScalarType dtype, safetensors_dtype(dtype_name));
  if (!entry.HasMember("shape") || !entry["shape"].IsArray())
    return Status::error(where + ": field 'shape' must be an array of integers");
  std::vector<int64_t> shape;
  uint64_t numel = 1;
  for (const auto& d : entry["shape"].GetArray()) {
    if (!d.IsUint64() || d.GetUint64() > (1ull << 40))
      return Status::error(where + ": field 'shape' must hold non-negative integers");
    shape.push_back(static_cast<int64_t>(d.GetUint64()));
    numel *= d.GetUint64();
  }
  if (!entry.HasMember("data_offsets") || !entry["data_offsets"].IsArray() || entry["data_offsets"].Size() != 2 ||
      !entry["data_offsets"][0].IsUint64() || !entry["data_offsets"][1].IsUint64())
    return Status::error(where + ": field 'data_offsets' must be [begin, end]");
  uint64_t begin = entry["data_offsets"][0].GetUint64();
  uint64_t end = entry["data_offsets"][1].GetUint64();
  uint64_t data_size = file->size() - data_start;
  if (begin > end || end > data_size)
    return Status::error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                         "] fall outside the data block of " + std::to_string(data_size) + " bytes");
  uint64_t expected = numel * at::elementSize(dtype);
  if (end - begin != expected)
    return Status::error(where + ": data_offsets span " + std::to_string(end - begin) +
                         " bytes but shape and dtype need " + std::to_string(expected));
  if (numel == 0) return at::empty(shape, at::TensorOptions().dtype(dtype));
  void* ptr = const_cast<char*>(file->data() + data_start + begin);
  // The deleter holds the mapping alive for as long as the tensor lives.
  return at::from_blob(ptr, shape, [file](void*) {}, at::TensorOptions().dtype(dtype));
}

}  // namespace

Result<at::ScalarType> safetensors_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  return Status::error("unknown dtype '" + name + "'");
}

Result<std::string> safetensors_dtype_name(at::ScalarType type) {
  for (const auto& d : kDtypes)
    if (type == d.type) return std::string(d.name);
  return Status::error(std::string("cannot store dtype ") + c10::toString(type) + " in safetensors");
}

Result<SafetensorsFile> load_safetensors(const std::string& path) {
  R1_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
  if (file->size() < 8)
    return Status::error(path + ": truncated safetensors file (" + std::to_string(file->size()) + " bytes)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file->data(), 8);  // little-endian hosts only (x86-64, arm64)
  if (header_len > kMaxHeaderBytes || header_len > file->size() - 8)
    return Status::error(path + ": header length " + std::to_string(header_len) + " exceeds the file size " +
                         std::to_string(file->size()) + " (truncated or not a safetensors file)");
  std::string header(file->data() + 8, header_len);
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(header, path + " (header)"));
  if (!doc.IsObject()) return Status::error(path + ": header must be a JSON object");
  SafetensorsFile out;
  for (const auto& member : doc.GetObject()) {
    std::string name(member.name.GetString(), member.name.GetStringLength());
    if (name == "__metadata__") {
      if (!member.value.IsObject()) return Status::error(path + ": __metadata__ must be an object of strings");
      for (const auto& m : member.value.GetObject()) {
        if (!m.value.IsString()) return Status::error(path + ": __metadata__ values must be strings");
        out.metadata[m.name.GetString()] = m.value.GetString();
      }
      continue;
    }
    R1_ASSIGN_OR_RETURN(at::Tensor t,
                        tensor_view(file, member.value, 8 + header_len, path + ": tensor '" + name + "'"));
    out.tensors.emplace(std::move(name), std::move(t));
  }
  return out;
}

Status save_safetensors(const std::string& path, const TensorMap& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> contiguous;
  JsonWriter header;
  header.begin_object();
  if (!metadata.empty()) {
    header.key("__metadata__").begin_object();
    for (const auto& [k, v] : metadata) header.key(k).value(v);
    header.end_object();
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    R1_ASSIGN_OR_RETURN(std::string dtype, safetensors_dtype_name(t.scalar_type()));
    uint64_t bytes = t.numel() * t.element_size();
    header.key(name).begin_object().key("dtype").value(dtype).key("shape").array(t.sizes().vec());
    header.key("data_offsets")
        .array(std::vector<int64_t>{static_cast<int64_t>(offset), static_cast<int64_t>(offset + bytes)});
    header.end_object();
    offset += bytes;
    contiguous.push_back(t);
  }
  header.end_object();
  std::string json = header.str();
  json.append((8 - json.size() % 8) % 8, ' ');  // keep the data block 8-byte aligned
  uint64_t header_len = json.size();
  std::string data;
  data.reserve(8 + header_len + offset);
  data.append(reinterpret_cast<const char*>(&header_len), 8);
  data.append(json);
  for (const auto& t : contiguous) data.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return write_file_atomic(path, data);
}

}  // namespace r1
