#include "train/tensorboard_log.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

namespace r1 {

namespace {

// Protocol-buffer wire format, only the pieces an Event needs.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

template <typename T>
void put_fixed(std::string& out, T v) {  // little-endian, as the wire format and x86
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_bytes_field(std::string& out, int field, const std::string& bytes) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event {wall_time = 1 (double), step = 2 (int64)} and one more field.
std::string event(double wall_time, int64_t step) {
  std::string e;
  put_varint(e, 1 << 3 | 1);
  put_fixed(e, wall_time);
  put_varint(e, 2 << 3 | 0);
  put_varint(e, static_cast<uint64_t>(step));
  return e;
}

uint32_t masked_crc(const void* data, size_t size) {
  uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xffffffffu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

Result<TensorBoardLog> TensorBoardLog::open(const std::string& dir, int64_t resume_step) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error(dir + ": cannot make the TensorBoard folder: " + ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  TensorBoardLog log;
  log.path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(now_seconds())) + "." + host + "." +
              std::to_string(getpid());
  log.file_ = std::fopen(log.path_.c_str(), "ab");
  if (!log.file_) return Status::error(log.path_ + ": cannot open for writing: " + std::strerror(errno));
  std::string first = event(now_seconds(), 0);
  put_bytes_field(first, 3, "brain.Event:2");  // file_version
  R1_RETURN_IF_ERROR(log.write_record(first));
  if (resume_step > 0) {
    std::string start = event(now_seconds(), resume_step);
    std::string session_log;  // SessionLog {status = 1: START}
    put_varint(session_log, 1 << 3 | 0);
    put_varint(session_log, 1);
    put_bytes_field(start, 7, session_log);
    R1_RETURN_IF_ERROR(log.write_record(start));
  }
  return log;
}

TensorBoardLog::TensorBoardLog(TensorBoardLog&& other) noexcept
    : path_(std::move(other.path_)), file_(std::exchange(other.file_, nullptr)) {}

TensorBoardLog& TensorBoardLog::operator=(TensorBoardLog&& other) noexcept {
  if (this != &other) {
    if (file_) std::fclose(file_);
    path_ = std::move(other.path_);
    file_ = std::exchange(other.file_, nullptr);
  }
  return *this;
}

TensorBoardLog::~TensorBoardLog() {
  if (file_) std::fclose(file_);
}

Status TensorBoardLog::add_scalars(int64_t step, double wall_time,
                                   const std::vector<std::pair<std::string, double>>& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;  // Summary.Value {tag = 1, simple_value = 2 (float)}
    put_bytes_field(v, 1, tag);
    put_varint(v, 2 << 3 | 5);
    put_fixed(v, static_cast<float>(value));
    put_bytes_field(summary, 1, v);
  }
  std::string e = event(wall_time, step);
  put_bytes_field(e, 5, summary);
  return write_record(e);
}

// TFRecord: length, its masked CRC, the bytes, their masked CRC.
Status TensorBoardLog::write_record(const std::string& data) {
  std::string frame;
  put_fixed(frame, static_cast<uint64_t>(data.size()));
  put_fixed(frame, masked_crc(frame.data(), 8));
  frame += data;
  put_fixed(frame, masked_crc(data.data(), data.size()));
  if (std::fwrite(frame.data(), 1, frame.size(), file_) != frame.size() || std::fflush(file_) != 0)
    return Status::error(path_ + ": write failed: " + std::strerror(errno));
  return Status();
}

}  // namespace r1
