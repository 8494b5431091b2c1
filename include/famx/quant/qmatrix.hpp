#pragma once
// qmatrix_view: a non-owning view of one MLX-quantized matrix W [rows = out, cols = in] (packed
// words, scales, biases), with row strides so that row and group ranges are views, not copies.

#include <cstddef>
#include <cstdint>
#include <string>

#include "famx/core/dtype.hpp"
#include "famx/core/error.hpp"
#include "famx/core/tensor.hpp"
#include "famx/quant/format.hpp"

namespace famx::quant {

// A quantized matrix: row r's codes at packed + r*packed_stride, its scales and biases at
// scales/biases + r*scale_stride (elements of scale_type: f32, f16 or bf16).
struct qmatrix_view {
  const std::uint32_t* packed = nullptr;
  const void* scales = nullptr;
  const void* biases = nullptr;
  dtype scale_type = dtype::bf16;
  affine_format format;
  std::size_t rows = 0, cols = 0;
  std::size_t packed_stride = 0, scale_stride = 0;

  std::size_t groups() const noexcept { return format.groups(cols); }
  const std::uint32_t* row(std::size_t r) const noexcept { return packed + r * packed_stride; }
  float scale(std::size_t r, std::size_t g) const noexcept {
    return load_float(scales, scale_type, r * scale_stride + g);
  }
  float bias(std::size_t r, std::size_t g) const noexcept {
    return load_float(biases, scale_type, r * scale_stride + g);
  }
  // Bytes of weight data the matrix reads: packed words plus scales plus biases.
  std::size_t weight_bytes() const noexcept {
    return rows * (format.packed_words(cols) * 4 + 2 * groups() * size_of(scale_type));
  }
  // Rows [begin, begin + n): a view (the column-parallel slice).
  qmatrix_view row_range(std::size_t begin, std::size_t n) const noexcept {
    qmatrix_view v = *this;
    v.packed = packed + begin * packed_stride;
    v.scales = static_cast<const std::byte*>(scales) + begin * scale_stride * size_of(scale_type);
    v.biases = static_cast<const std::byte*>(biases) + begin * scale_stride * size_of(scale_type);
    v.rows = n;
    return v;
  }
  // Groups [g0, g0 + n) of every row: a view (the row-parallel slice, cut on group boundaries).
  qmatrix_view group_range(std::size_t g0, std::size_t n) const noexcept {
    qmatrix_view v = *this;
    v.packed = packed + g0 * format.group_words();
    v.scales = static_cast<const std::byte*>(scales) + g0 * size_of(scale_type);
    v.biases = static_cast<const std::byte*>(biases) + g0 * size_of(scale_type);
    v.cols = n * static_cast<std::size_t>(format.group_size);
    return v;
  }
};

namespace detail {

// Throws famx::error (naming `name`) unless w is usable by the kernels: a valid format, data
// pointers set, whole groups of columns, f32/f16/bf16 scales and row strides that hold a row.
inline void check_qmatrix(const qmatrix_view& w, const std::string& name) {
  if (auto r = validate(w.format, name); !r) throw r.err();
  if (w.packed == nullptr || w.scales == nullptr || w.biases == nullptr)
    throw error(errc::invalid_value, name, "a null data pointer", "packed, scales and biases set");
  if (w.cols == 0 || w.cols % static_cast<std::size_t>(w.format.group_size) != 0)
    throw error(errc::not_divisible, name + ".cols", std::to_string(w.cols),
                "a positive multiple of the group size " + std::to_string(w.format.group_size));
  if (w.scale_type != dtype::f32 && w.scale_type != dtype::f16 && w.scale_type != dtype::bf16)
    throw error(errc::wrong_type, name + ".scale_type", std::string(to_string(w.scale_type)), "f32, f16 or bf16");
  if (w.packed_stride < w.format.packed_words(w.cols) || w.scale_stride < w.groups())
    throw error(errc::out_of_bounds, name, "row strides shorter than a row", "strides >= the row size");
}

}  // namespace detail

// Builds a view from MLX tensors: packed u32 [out, in*bits/32], scales and biases [out, in/group]
// of one float dtype. `name` is the module path used in errors ("layers.0.mlp.down_proj").
inline result<qmatrix_view> make_qmatrix_view(const tensor_view& packed, const tensor_view& scales,
                                              const tensor_view& biases, affine_format fmt,
                                              std::string_view name = "weight") {
  const std::string n(name);
  if (auto r = validate(fmt, n); !r) return r.err();
  if (packed.type != dtype::u32)
    return error(errc::wrong_type, n + ".weight", std::string(to_string(packed.type)), "u32 packed codes");
  if (packed.dims.rank() != 2)
    return error(errc::shape_mismatch, n + ".weight", to_string(packed.dims), "a rank-2 [out, in*bits/32] tensor");
  const auto rows = static_cast<std::size_t>(packed.dims[0]);
  const std::size_t words = static_cast<std::size_t>(packed.dims[1]);
  if ((words * 32) % static_cast<std::size_t>(fmt.bits) != 0 ||
      (words * 32 / static_cast<std::size_t>(fmt.bits)) % static_cast<std::size_t>(fmt.group_size) != 0)
    return error(errc::shape_mismatch, n + ".weight", to_string(packed.dims),
                 "a packed width that holds whole groups of " + std::to_string(fmt.group_size) + " " +
                     std::to_string(fmt.bits) + "-bit codes");
  const std::size_t cols = words * 32 / static_cast<std::size_t>(fmt.bits);
  const shape want{static_cast<std::int64_t>(rows), static_cast<std::int64_t>(fmt.groups(cols))};
  for (const auto* t : {&scales, &biases}) {
    const std::string which = n + (t == &scales ? ".scales" : ".biases");
    if (t->type != dtype::f32 && t->type != dtype::f16 && t->type != dtype::bf16)
      return error(errc::wrong_type, which, std::string(to_string(t->type)), "f32, f16 or bf16");
    if (!(t->dims == want))
      return error(errc::shape_mismatch, which, to_string(t->dims),
                   to_string(want) + " for " + to_string(fmt) + " and in = " + std::to_string(cols));
  }
  if (scales.type != biases.type)
    return error(errc::wrong_type, n + ".biases", std::string(to_string(biases.type)),
                 std::string(to_string(scales.type)) + " like the scales");
  if (packed.strides[1] != 1 || scales.strides[1] != 1 || biases.strides[1] != 1 ||
      scales.strides[0] != biases.strides[0])
    return error(errc::unsupported, n, "a view with non-unit inner strides", "rows stored contiguously");
  return qmatrix_view{packed.as<std::uint32_t>(), scales.data, biases.data, scales.type, fmt,
                      rows, cols, static_cast<std::size_t>(packed.strides[0]),
                      static_cast<std::size_t>(scales.strides[0])};
}

}  // namespace famx::quant
