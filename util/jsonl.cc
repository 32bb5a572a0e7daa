#include "util/jsonl.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "util/json.h"

namespace r1 {

Result<JsonlReader> JsonlReader::open(const std::string& path) {
  std::ifstream in(path == "-" ? "/dev/stdin" : path);
  if (!in) return Status::error(path + ": cannot open for reading");
  return JsonlReader(path, std::move(in));
}

Result<bool> JsonlReader::next(rapidjson::Document& doc) {
  std::string line;
  while (std::getline(in_, line)) {
    ++line_no_;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    doc.Parse<rapidjson::kParseFullPrecisionFlag>(line.c_str(), line.size());
    if (doc.HasParseError())
      return Status::error(where() + ": invalid JSON at column " + std::to_string(doc.GetErrorOffset() + 1));
    if (!doc.IsObject()) return Status::error(where() + ": expected a JSON object");
    return true;
  }
  if (in_.bad()) return Status::error(path_ + ": read error after line " + std::to_string(line_no_));
  return false;
}

Result<JsonlWriter> JsonlWriter::open(const std::string& path) {
  if (path == "-") return JsonlWriter(path, "");
  JsonlWriter w(path, path + ".tmp." + std::to_string(getpid()));
  w.out_.open(w.tmp_, std::ios::trunc);
  if (!w.out_) return Status::error(w.tmp_ + ": cannot open for writing");
  return w;
}

Status JsonlWriter::write(const std::string& json_line) {
  std::ostream& out = tmp_.empty() ? std::cout : out_;
  out << json_line << '\n';
  if (!out) return Status::error(path_ + ": write failed");
  return Status();
}

Status JsonlWriter::commit() {
  if (tmp_.empty()) {
    std::cout.flush();
    return Status();
  }
  out_.close();
  if (!out_) return Status::error(tmp_ + ": write failed");
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) return Status::error(path_ + ": rename failed");
  committed_ = true;
  return Status();
}

JsonlWriter::~JsonlWriter() {
  if (!tmp_.empty() && !committed_) std::remove(tmp_.c_str());
}

}  // namespace r1
