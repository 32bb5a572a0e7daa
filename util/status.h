// Errors as values: Status says what went wrong in words a user can act on
// (file, line or field, what was expected); Result<T> is a value or a Status.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace r1 {

class Status {
 public:
  Status() = default;
  static Status error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  const std::string& message() const {
    static const std::string kOk = "ok";
    return message_ ? *message_ : kOk;
  }
  // Prefixes context, e.g. the file name, to an error; ok stays ok.
  Status with_context(const std::string& context) const {
    return ok() ? *this : Status(context + ": " + *message_);
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// Thrown only at boundaries that cannot return a value (constructors of
// objects handed to LibTorch, CLI mains); carries the same message.
class Error : public std::runtime_error {
 public:
  explicit Error(const Status& status) : std::runtime_error(status.message()) {}
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}
  Result(Status status) : data_(std::move(status)) {
    if (std::get<Status>(data_).ok()) throw Error("Result constructed from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() {
    if (!ok()) throw Error(std::get<Status>(data_));
    return std::get<T>(data_);
  }
  const T& value() const {
    if (!ok()) throw Error(std::get<Status>(data_));
    return std::get<T>(data_);
  }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> data_;
};

// Returns the value of a Result or throws its Status as r1::Error.
template <typename T>
T value_or_throw(Result<T> result) {
  return std::move(result.value());
}
inline void throw_if_error(const Status& status) {
  if (!status.ok()) throw Error(status);
}

}  // namespace r1

#define R1_CONCAT_INNER(a, b) a##b
#define R1_CONCAT(a, b) R1_CONCAT_INNER(a, b)

// Returns early from a function returning Status or Result<U> on error.
#define R1_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::r1::Status r1_status_ = (expr);        \
    if (!r1_status_.ok()) return r1_status_; \
  } while (0)

#define R1_ASSIGN_OR_RETURN(lhs, expr) R1_ASSIGN_OR_RETURN_IMPL(R1_CONCAT(r1_result_, __COUNTER__), lhs, expr)
#define R1_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp.value())
