#pragma once
// Storage under MLX quantization rules: for each tensor of a model_description, whether it is
// stored quantized (and in which affine format) or in float, and its bytes. Rule (mlx-lm): a
// per-module override wins (`false` = float); otherwise a module with to_quantized (Linear,
// Embedding, SwitchLinear, MultiLinear) whose last dim divides by the group size takes the global
// format, Qwen routers 8 bits / group 64; norms, conv1d, raw arrays (A_log, dt_bias, the DeepSeek /
// GLM MoEGate and its fp32 e_score_correction_bias) stay in float. Biases of a quantized Linear
// stay in float too.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "famx/families/describe.hpp"
#include "famx/io/quantization.hpp"

namespace famx::io {

// How one tensor is stored.
struct stored_tensor {
  const surface::tensor_entry* tensor = nullptr;
  std::optional<quant::affine_format> format;  // set when stored quantized (weight + scales + biases)
  dtype float_dtype = dtype::bf16;              // dtype when not quantized
  std::int64_t bytes = 0;                       // all files' bytes for it (packed weight, scales, biases)

  // "bf16", "f32", or "4-bit g64".
  std::string format_text() const {
    if (format) return std::to_string(format->bits) + "-bit g" + std::to_string(format->group_size);
    return std::string(to_string(float_dtype));
  }
};

// The format of module tensor t under quantization q (nullopt: float).
inline std::optional<quant::affine_format> stored_format(const surface::tensor_entry& t,
                                                         const std::optional<quantization_config>& q) {
  if (!q || !t.packs) return std::nullopt;
  if (const auto* o = q->find(t.module)) return o->format;
  if (t.rule == surface::quant_rule::never) return std::nullopt;
  const quant::affine_format f =
      t.rule == surface::quant_rule::router_8bit ? quant::affine_format{8, 64} : q->global;
  if (t.dims.dim(-1) % f.group_size != 0) return std::nullopt;  // mlx-lm skips it
  return f;
}

// Bytes of tensor t stored in format f (packed uint32 weight + bf16 scales and biases) or in float.
inline std::int64_t stored_bytes(const surface::tensor_entry& t, const std::optional<quant::affine_format>& f) {
  if (!f) return t.numel() * static_cast<std::int64_t>(size_of(t.float_dtype));
  const std::int64_t rows = t.numel() / t.dims.dim(-1);
  const std::int64_t in = t.dims.dim(-1);
  return rows * (in * f->bits / 8 + 2 * 2 * (in / f->group_size));
}

// The storage table of a model: one row per tensor, in the description's order.
inline std::vector<stored_tensor> storage_table(const families::model_description& d,
                                                const std::optional<quantization_config>& q) {
  std::vector<stored_tensor> out;
  out.reserve(d.tensors.size());
  for (const auto& t : d.tensors) {
    stored_tensor s{&t, stored_format(t, q), t.float_dtype, 0};
    s.bytes = stored_bytes(t, s.format);
    out.push_back(s);
  }
  return out;
}

// Total bytes of a storage table.
inline std::int64_t total_bytes(const std::vector<stored_tensor>& table) {
  std::int64_t n = 0;
  for (const auto& s : table) n += s.bytes;
  return n;
}

// A quantization dict as `mlx_lm.convert -q --q-bits bits --q-group-size group_size` writes it.
inline quantization_config convert_quantization(int bits, int group_size = 64) {
  return quantization_config{quant::affine_format{bits, group_size}, "affine", {}, {}};
}

}  // namespace famx::io
