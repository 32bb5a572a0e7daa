// Reads JSON Lines files one object at a time, keeping line numbers so every
// error names "<file>:<line>". Blank lines are skipped.
#pragma once

#include <fstream>
#include <string>

#include <rapidjson/document.h>

#include "util/status.h"

namespace r1 {

class JsonlReader {
 public:
  static Result<JsonlReader> open(const std::string& path);  // "-" is stdin

  // Reads the next object into `doc`. Returns false at end of file; an error
  // Status when the line is not a JSON object.
  Result<bool> next(rapidjson::Document& doc);

  // "<file>:<line>" of the object last returned, for field errors.
  std::string where() const { return path_ + ":" + std::to_string(line_no_); }

  JsonlReader(JsonlReader&&) = default;

 private:
  JsonlReader(std::string path, std::ifstream in) : path_(std::move(path)), in_(std::move(in)) {}
  std::string path_;
  std::ifstream in_;
  int64_t line_no_ = 0;
};

// Writes JSON lines to a temp file and renames it over `path` on commit(), so
// a failed run never leaves a half-written output.
class JsonlWriter {
 public:
  static Result<JsonlWriter> open(const std::string& path);  // "-" is stdout
  Status write(const std::string& json_line);
  Status commit();
  JsonlWriter(JsonlWriter&&) = default;
  ~JsonlWriter();

 private:
  JsonlWriter(std::string path, std::string tmp) : path_(std::move(path)), tmp_(std::move(tmp)) {}
  std::string path_;
  std::string tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace r1
