// Whole-file reads, atomic writes (temp + rename) and read-only memory maps.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "util/status.h"

namespace r1 {

Result<std::string> read_file(const std::string& path);

// Writes `data` to `path` so that readers see either the old file or the new
// one, never a partial write: temp file in the same folder, fsync, rename.
Status write_file_atomic(const std::string& path, const std::string& data);

// A private copy-on-write mapping of a whole file; unmapped when the last
// shared_ptr goes away, so tensors viewing it can keep it alive.
class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return static_cast<const char*>(addr_); }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, void* addr, size_t size) : path_(std::move(path)), addr_(addr), size_(size) {}
  std::string path_;
  void* addr_;
  size_t size_;
};

// Creates `dir` and its parents; ok if it exists.
Status make_dirs(const std::string& dir);

}  // namespace r1
