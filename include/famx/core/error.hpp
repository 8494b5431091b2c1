#pragma once
// famx::error and famx::result<T>: every failure names where it happened, what was found and what
// was expected. Errors are values inside result<T> and exceptions when thrown (result::value()).

#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <optional>
#include <variant>

namespace famx {

// What kind of problem an error reports; stable names (see to_string).
enum class errc {
  io,                 // a file could not be opened, mapped or read
  syntax,             // malformed JSON or binary header
  missing,            // a required key, tensor or file is absent
  wrong_type,         // a value has the wrong JSON type or dtype
  invalid_value,      // a value is outside what is allowed
  inconsistent,       // values disagree with each other
  shape_mismatch,     // a tensor's shape is not the one expected
  out_of_bounds,      // a range points outside its container
  not_divisible,      // a dimension does not divide by a degree or group
  unsupported,        // valid input that famx does not handle
  unknown_family,     // an architecture or model_type famx does not know
  collective,         // a collective failed: a rank failed, left, disagreed or did not answer in time
};

// Stable lower-case name of an error code.
constexpr std::string_view to_string(errc c) noexcept {
  switch (c) {
    case errc::io: return "io";
    case errc::syntax: return "syntax";
    case errc::missing: return "missing";
    case errc::wrong_type: return "wrong_type";
    case errc::invalid_value: return "invalid_value";
    case errc::inconsistent: return "inconsistent";
    case errc::shape_mismatch: return "shape_mismatch";
    case errc::out_of_bounds: return "out_of_bounds";
    case errc::not_divisible: return "not_divisible";
    case errc::unsupported: return "unsupported";
    case errc::unknown_family: return "unknown_family";
    case errc::collective: return "collective";
  }
  return "unknown";
}

// A failure with its location: file, key or tensor path, what was found, what was expected.
// message() reads "file: path: found X, expected Y".
class error : public std::exception {
 public:
  error(errc code, std::string path, std::string found, std::string expected, std::string file = {})
      : code_(code), file_(std::move(file)), path_(std::move(path)), found_(std::move(found)),
        expected_(std::move(expected)) {
    render();
  }

  errc code() const noexcept { return code_; }
  const std::string& file() const noexcept { return file_; }
  const std::string& path() const noexcept { return path_; }
  const std::string& found() const noexcept { return found_; }
  const std::string& expected() const noexcept { return expected_; }
  const std::string& message() const noexcept { return what_; }
  const char* what() const noexcept override { return what_.c_str(); }

  // Prefixes the path with an outer component: "3.mlp" .in("layers") -> "layers.3.mlp".
  error& in(std::string_view outer) {
    path_ = path_.empty() ? std::string(outer) : std::string(outer) + "." + path_;
    render();
    return *this;
  }
  // Sets the file when none is set yet (inner layers know less than outer ones).
  error& at_file(std::string_view file) {
    if (file_.empty()) file_ = std::string(file);
    render();
    return *this;
  }

 private:
  void render() {
    what_.clear();
    if (!file_.empty()) what_ += file_ + ": ";
    if (!path_.empty()) what_ += path_ + ": ";
    what_ += "found " + found_ + ", expected " + expected_;
  }

  errc code_;
  std::string file_, path_, found_, expected_, what_;
};

// Either a T or an error. value() throws the error; get(out) never throws.
template <class T>
class [[nodiscard]] result {
 public:
  result(T v) : v_(std::in_place_index<0>, std::move(v)) {}          // NOLINT: implicit by design
  result(error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT: implicit by design

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; only valid when !has_value().
  const error& err() const& { return std::get<1>(v_); }
  error& err() & { return std::get<1>(v_); }

 private:
  void check() const {
    if (v_.index() != 0) throw std::get<1>(v_);
  }
  std::variant<T, error> v_;
};

// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : e_(std::in_place, std::move(e)) {}  // NOLINT: implicit by design
  bool has_value() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (e_) throw *e_;
  }
  const error& err() const& { return *e_; }
  error& err() & { return *e_; }

 private:
  std::optional<error> e_;
};

}  // namespace famx
