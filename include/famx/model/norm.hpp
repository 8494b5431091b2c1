#pragma once
// The normalizations and activations of the reference forward (spec 1.1), in fp32:
// RMSNorm (mx.fast.rms_norm), LayerNorm (the DeepSeek-V3.2 indexer's k_norm), silu, sigmoid,
// softplus, and a numerically stable softmax.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>

namespace famx::model {

// x <- x / sqrt(mean(x^2) + eps) * w (w empty: no weight), in place.
inline void rms_norm(std::span<float> x, std::span<const float> w, float eps) {
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(x.size())) + eps);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = x[i] * inv * (w.empty() ? 1.0f : w[i]);
}

// x <- (x - mean) / sqrt(var + eps) * w + b, in place.
inline void layer_norm(std::span<float> x, std::span<const float> w, std::span<const float> b, float eps) {
  double mean = 0, var = 0;
  for (float v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (float v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  const double inv = 1.0 / std::sqrt(var + eps);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((x[i] - mean) * inv) * w[i] + b[i];
}

// 1 / (1 + e^-x).
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
// x * sigmoid(x).
inline float silu(float x) { return x * sigmoid(x); }
// ln(1 + e^x), without overflow.
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

// p <- softmax(p), in place (max subtracted; -inf entries get probability 0).
inline void softmax(std::span<float> p) {
  float m = -std::numeric_limits<float>::infinity();
  for (float v : p) m = std::max(m, v);
  double sum = 0;
  for (float& v : p) {
    v = std::exp(v - m);
    sum += v;
  }
  for (float& v : p) v = static_cast<float>(v / sum);
}

}  // namespace famx::model
