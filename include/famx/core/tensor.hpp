#pragma once
// Shapes, non-owning tensor views (data, dtype, shape, strides) and owning tensors.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <string>

#include "famx/core/dtype.hpp"
#include "famx/core/error.hpp"

namespace famx {

// A tensor shape of rank 0..max_rank, stored inline.
class shape {
 public:
  static constexpr std::size_t max_rank = 8;

  constexpr shape() = default;
  constexpr shape(std::initializer_list<std::int64_t> dims) {
    for (std::int64_t d : dims) push_back(d);
  }
  constexpr explicit shape(std::span<const std::int64_t> dims) {
    for (std::int64_t d : dims) push_back(d);
  }

  constexpr std::size_t rank() const noexcept { return rank_; }
  constexpr std::int64_t operator[](std::size_t i) const noexcept { return dims_[i]; }
  constexpr std::int64_t& operator[](std::size_t i) noexcept { return dims_[i]; }
  // Dimension i counted from the end when negative (-1 is the last).
  constexpr std::int64_t dim(std::ptrdiff_t i) const noexcept {
    return dims_[static_cast<std::size_t>(i < 0 ? static_cast<std::ptrdiff_t>(rank_) + i : i)];
  }
  constexpr void push_back(std::int64_t d) noexcept {
    if (rank_ < max_rank) dims_[rank_++] = d;
  }
  // Product of all dimensions (1 for rank 0).
  constexpr std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  constexpr std::span<const std::int64_t> dims() const noexcept { return {dims_.data(), rank_}; }
  friend constexpr bool operator==(const shape& a, const shape& b) noexcept {
    return std::ranges::equal(a.dims(), b.dims());
  }

 private:
  std::array<std::int64_t, max_rank> dims_{};
  std::size_t rank_ = 0;
};

// "[4096, 2048]".
inline std::string to_string(const shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.rank(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Row-major strides (in elements) of a contiguous tensor of shape s.
constexpr shape contiguous_strides(const shape& s) noexcept {
  shape st = s;
  std::int64_t acc = 1;
  for (std::size_t i = s.rank(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// A non-owning view: data pointer, dtype, shape and strides in elements.
struct tensor_view {
  const void* data = nullptr;
  famx::dtype type = dtype::f32;
  famx::shape dims;
  famx::shape strides;

  // A contiguous row-major view.
  static tensor_view contiguous(const void* data, famx::dtype t, const famx::shape& s) {
    return {data, t, s, contiguous_strides(s)};
  }
  std::int64_t numel() const noexcept { return dims.numel(); }
  std::size_t nbytes() const noexcept {
    return static_cast<std::size_t>(numel()) * size_of(type);
  }
  bool is_contiguous() const noexcept { return strides == contiguous_strides(dims); }
  // Typed pointer to the first element; T must match the dtype's size.
  template <class T>
  const T* as() const noexcept {
    return static_cast<const T*>(data);
  }
  // Sub-view of index i along dimension 0.
  tensor_view operator[](std::int64_t i) const noexcept {
    tensor_view v;
    v.data = static_cast<const std::byte*>(data) +
             static_cast<std::size_t>(i * strides[0]) * size_of(type);
    v.type = type;
    for (std::size_t d = 1; d < dims.rank(); ++d) {
      v.dims.push_back(dims[d]);
      v.strides.push_back(strides[d]);
    }
    return v;
  }
  // Narrows dimension `axis` to [begin, begin + length); no data is copied.
  tensor_view slice(std::size_t axis, std::int64_t begin, std::int64_t length) const noexcept {
    tensor_view v = *this;
    v.data = static_cast<const std::byte*>(data) +
             static_cast<std::size_t>(begin * strides[axis]) * size_of(type);
    v.dims[axis] = length;
    return v;
  }
};

// An owning, contiguous, 64-byte aligned tensor.
class tensor {
 public:
  tensor() = default;
  tensor(famx::dtype t, const famx::shape& s)
      : type_(t), dims_(s), bytes_(static_cast<std::size_t>(s.numel()) * size_of(t)),
        data_(static_cast<std::byte*>(::operator new(std::max<std::size_t>(bytes_, 1),
                                                     std::align_val_t{64}))) {
    std::memset(data_.get(), 0, bytes_);
  }

  famx::dtype type() const noexcept { return type_; }
  const famx::shape& dims() const noexcept { return dims_; }
  std::size_t nbytes() const noexcept { return bytes_; }
  std::int64_t numel() const noexcept { return dims_.numel(); }
  void* data() noexcept { return data_.get(); }
  const void* data() const noexcept { return data_.get(); }
  template <class T>
  std::span<T> as() noexcept {
    return {reinterpret_cast<T*>(data_.get()), bytes_ / sizeof(T)};
  }
  template <class T>
  std::span<const T> as() const noexcept {
    return {reinterpret_cast<const T*>(data_.get()), bytes_ / sizeof(T)};
  }
  tensor_view view() const noexcept { return tensor_view::contiguous(data(), type_, dims_); }

 private:
  struct aligned_delete {
    void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
  };
  famx::dtype type_ = dtype::f32;
  famx::shape dims_;
  std::size_t bytes_ = 0;
  std::unique_ptr<std::byte[], aligned_delete> data_;
};

}  // namespace famx
