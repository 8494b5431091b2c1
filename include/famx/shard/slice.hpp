#pragma once
// Slices of checkpoint tensors: the file tensors (a float tensor, or a quantized triplet cut on
// group boundaries) that hold a rank's blocks of a logical tensor, their byte runs in the file,
// and the rank's tensor itself: a view into the checkpoint when it is one block (no copy), else
// the blocks copied into one tensor.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "famx/io/mlx_surface.hpp"
#include "famx/shard/tensor_parallel.hpp"

namespace famx::shard {

// `count` runs of `bytes` bytes, `stride` bytes apart, from byte `offset` of a tensor's data.
struct byte_runs {
  std::uint64_t offset = 0, bytes = 0, count = 0, stride = 0;
  friend constexpr bool operator==(byte_runs, byte_runs) = default;
};

// One file tensor's part on a rank.
struct file_slice {
  std::string name;  // "model.layers.0.self_attn.o_proj.scales"
  dtype type = dtype::bf16;
  shape global, local;
  std::vector<block> blocks;  // in this file tensor's coordinates; empty: all of it

  // The byte runs of every block, in block order.
  std::vector<byte_runs> runs() const {
    const std::uint64_t es = size_of(type);
    if (blocks.empty()) return {{0, static_cast<std::uint64_t>(global.numel()) * es, 1, 0}};
    std::vector<byte_runs> out;
    for (const block& b : blocks) {
      const auto a = static_cast<std::size_t>(b.axis);
      std::uint64_t outer = 1, inner = es;
      for (std::size_t i = 0; i < a; ++i) outer *= static_cast<std::uint64_t>(global[i]);
      for (std::size_t i = a + 1; i < global.rank(); ++i) inner *= static_cast<std::uint64_t>(global[i]);
      const std::uint64_t row = static_cast<std::uint64_t>(global[a]) * inner;
      out.push_back({static_cast<std::uint64_t>(b.begin) * inner, static_cast<std::uint64_t>(b.length) * inner, outer,
                     outer > 1 ? row : 0});
    }
    return out;
  }
  // Bytes the rank holds.
  std::uint64_t local_bytes() const { return static_cast<std::uint64_t>(local.numel()) * size_of(type); }
};

// The file tensors storing blocks `blocks` of logical tensor t in format f (float: `float_type`).
// A block on the input axis of a quantized tensor maps to packed words and to groups.
inline std::vector<file_slice> file_slices(const surface::tensor_entry& t, const std::optional<quant::affine_format>& f,
                                           dtype float_type, const std::vector<block>& blocks) {
  std::vector<file_slice> out;
  const int last = static_cast<int>(t.dims.rank()) - 1;
  for (const io::stored_entry& s : io::stored_entries(t, f)) {
    file_slice fs{s.name, s.role == io::stored_role::packed ? dtype::u32 : float_type, s.dims, s.dims, blocks};
    for (block& b : fs.blocks) {
      if (!f || b.axis != last) continue;
      if (s.role == io::stored_role::packed) b = {b.axis, b.begin * f->bits / 32, b.length * f->bits / 32};
      else b = {b.axis, b.begin / f->group_size, b.length / f->group_size};
    }
    fs.local = blocks_shape(fs.global, fs.blocks);
    out.push_back(std::move(fs));
  }
  return out;
}

// A rank's tensor: a view into the checkpoint, or into `owned` when its blocks were copied.
struct local_tensor {
  std::string name;
  tensor_view view;
  std::optional<tensor> owned;
};

// The part of checkpoint tensor `whole` (contiguous) that slice s names. One block is a strided
// view (no copy); several blocks are copied, in order, into one contiguous tensor.
inline result<local_tensor> take(const tensor_view& whole, const file_slice& s) {
  if (!(whole.dims == s.global) || whole.type != s.type)
    return error(errc::shape_mismatch, s.name, std::string(to_string(whole.type)) + " " + to_string(whole.dims),
                 std::string(to_string(s.type)) + " " + to_string(s.global) + " as the plan was made for");
  if (!whole.is_contiguous()) return error(errc::unsupported, s.name, "a strided tensor", "a contiguous checkpoint tensor");
  if (s.blocks.empty()) return local_tensor{s.name, whole, std::nullopt};
  const auto a = static_cast<std::size_t>(s.blocks.front().axis);
  if (s.blocks.size() == 1) return local_tensor{s.name, whole.slice(a, s.blocks[0].begin, s.blocks[0].length), std::nullopt};
  tensor t(s.type, s.local);
  const std::size_t es = size_of(s.type);
  std::size_t outer = 1, inner = es;
  for (std::size_t i = 0; i < a; ++i) outer *= static_cast<std::size_t>(s.global[i]);
  for (std::size_t i = a + 1; i < s.global.rank(); ++i) inner *= static_cast<std::size_t>(s.global[i]);
  const auto* src = static_cast<const std::byte*>(whole.data);
  auto* dst = static_cast<std::byte*>(t.data());
  for (std::size_t o = 0; o < outer; ++o) {
    std::size_t at = 0;
    for (const block& b : s.blocks) {
      const auto n = static_cast<std::size_t>(b.length) * inner;
      std::memcpy(dst + (o * static_cast<std::size_t>(s.local[a])) * inner + at,
                  src + (o * static_cast<std::size_t>(s.global[a]) + static_cast<std::size_t>(b.begin)) * inner, n);
      at += n;
    }
  }
  local_tensor out{s.name, {}, std::move(t)};
  out.view = out.owned->view();
  return out;
}

}  // namespace famx::shard
