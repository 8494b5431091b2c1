#pragma once
// model::reference_model: the fp32 reference forward of any family (spec 1.1): token embedding
// (quantized embeddings dequantized by row), pre-norm decoder layers h = x + attn(norm(x)),
// out = h + mlp(norm(h)), the final norm and the LM head (tied to embed_tokens or not). Loaded
// from a checkpoint directory; forward() continues a kv_cache, so a prompt followed by decode
// steps gives the logits of one pass over the whole sequence.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "famx/families/registry.hpp"
#include "famx/io/json_read.hpp"
#include "famx/model/attention.hpp"
#include "famx/model/checkpoint.hpp"
#include "famx/model/delta_net.hpp"
#include "famx/model/mla.hpp"
#include "famx/model/mlp.hpp"

namespace famx::model {

// One decoder layer's weights (the members its kinds use).
struct layer_weights {
  std::vector<float> input_layernorm, post_attention_layernorm;
  std::optional<gqa_weights> gqa;
  std::optional<mla_weights> mla;
  std::optional<delta_net_weights> delta;
  std::optional<mlp_weights> mlp;
  std::optional<moe_weights> moe;
};

// How forward() runs.
struct forward_options {
  mla_form mla = mla_form::absorbed;
};

namespace detail {

// Family's typed config of a loaded config.json (the text model of a mistral3 wrapper).
template <class Family>
result<typename families::family_traits<Family>::config> typed_config(const io::loaded_model& m) {
  simdjson::padded_string text;
  if (auto ec = simdjson::padded_string::load(m.file).get(text))
    return error(errc::io, "", std::string("cannot read the file (") + simdjson::error_message(ec) + ")", "a readable config.json", m.file);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object root;
  if (auto ec = parser.iterate(text).get(doc))
    return error(errc::syntax, "", std::string("JSON error: ") + simdjson::error_message(ec), "a config.json object", m.file);
  if (auto ec = doc.get_object().get(root))
    return error(errc::syntax, "", std::string("not a JSON object (") + simdjson::error_message(ec) + ")", "a config.json object", m.file);
  if (m.wrapper.empty()) return io::parse_config<Family>(root, m.file);
  simdjson::ondemand::object inner;
  if (root.find_field_unordered("text_config").get_object().get(inner))
    return error(errc::missing, "text_config", "no object", "the text model's config", m.file);
  return io::parse_config<Family>(inner, m.file, "text_config");
}

}  // namespace detail

// A model ready to run: its spec, its weights and how they run.
class reference_model {
 public:
  // Loads the checkpoint in `dir`, dequantizing every quantized weight to fp32 or keeping it for
  // the quantized kernels (`path`). Errors name the file and the tensor or config key.
  static result<reference_model> load(const std::filesystem::path& dir, weight_path path = weight_path::dequantized) {
    auto ck = checkpoint::open(dir);
    if (!ck) return ck.err();
    auto spec = families::visit_family(ck->model().family, [&]<class F>() -> result<model_spec> {
      auto c = detail::typed_config<F>(ck->model());
      if (!c) return c.err();
      return spec_of<F>(*c);
    });
    if (!spec) return spec.err();
    reference_model m(std::move(*ck), std::move(*spec), path);
    if (auto r = m.load_weights(); !r) return r.err();
    return m;
  }

  // The model's spec.
  const model_spec& spec() const noexcept { return spec_; }
  // How its quantized weights run.
  weight_path path() const noexcept { return path_; }
  // An empty cache for this model.
  kv_cache new_cache() const {
    kv_cache c;
    c.layers.resize(spec_.layers.size());
    return c;
  }

  // Logits [tokens.size(), vocab] of the tokens that follow the c.offset tokens already in c;
  // appends them to c. A token id outside [0, vocab) is a famx::error.
  std::vector<float> forward(std::span<const std::int32_t> tokens, kv_cache& c, const forward_options& opt = {}) const {
    const std::size_t L = tokens.size(), D = spec_.hidden, V = spec_.vocab;
    if (c.layers.size() != spec_.layers.size())
      throw error(errc::shape_mismatch, "cache.layers", std::to_string(c.layers.size()), std::to_string(spec_.layers.size()) + " (num_hidden_layers)");
    std::vector<float> x(L * D), h(L * D), y(L * D);
    for (std::size_t t = 0; t < L; ++t) {
      if (tokens[t] < 0 || static_cast<std::size_t>(tokens[t]) >= V)
        throw error(errc::invalid_value, "tokens." + std::to_string(t), std::to_string(tokens[t]),
                    "a token id in [0, vocab_size = " + std::to_string(V) + ")");
      const std::vector<float> row = embed_.row(static_cast<std::size_t>(tokens[t]));
      std::copy(row.begin(), row.end(), x.begin() + static_cast<std::ptrdiff_t>(t * D));
    }
    for (std::size_t i = 0; i < spec_.layers.size(); ++i) {
      const layer_weights& w = layers_[i];
      const layer_spec& k = spec_.layers[i];
      h = x;
      for (std::size_t t = 0; t < L; ++t) rms_norm({h.data() + t * D, D}, w.input_layernorm, spec_.eps);
      switch (k.attention) {
        case attention_kind::gqa: gqa_attention(spec_, *w.gqa, false, c.layers[i], c.offset, h, L, y); break;
        case attention_kind::gated: gqa_attention(spec_, *w.gqa, true, c.layers[i], c.offset, h, L, y); break;
        case attention_kind::mla: mla_attention(spec_, *w.mla, opt.mla, c.layers[i], c.offset, h, L, y); break;
        case attention_kind::delta_net: delta_net(spec_, *w.delta, c.layers[i], h, L, y); break;
      }
      for (std::size_t j = 0; j < x.size(); ++j) x[j] += y[j];
      h = x;
      for (std::size_t t = 0; t < L; ++t) rms_norm({h.data() + t * D, D}, w.post_attention_layernorm, spec_.eps);
      if (k.mlp == mlp_kind::moe) {
        moe_mlp(spec_, *w.moe, h, L, y);
      } else {
        for (std::size_t t = 0; t < L; ++t) glu(*w.mlp, {h.data() + t * D, D}, {y.data() + t * D, D});
      }
      for (std::size_t j = 0; j < x.size(); ++j) x[j] += y[j];
    }
    std::vector<float> logits(L * V);
    for (std::size_t t = 0; t < L; ++t) {
      const std::span<float> xt(x.data() + t * D, D);
      rms_norm(xt, norm_, spec_.eps);
      (spec_.tied ? embed_ : lm_head_).apply(xt, {logits.data() + t * V, V});
    }
    c.offset += L;
    return logits;
  }

 private:
  reference_model(checkpoint ck, model_spec s, weight_path p) : ck_(std::move(ck)), spec_(std::move(s)), path_(p) {}

  result<void> load_weights() {
    const model_spec& s = spec_;
    const std::string root = ck_.prefix() + "model.";
    auto lin = [&](const std::string& m, std::size_t rows, std::size_t cols, bool bias = false) {
      return ck_.linear_of(m, rows, cols, path_, bias);
    };
    auto put = [](auto& dst, auto&& r) -> result<void> {
      if (!r) return r.err();
      dst = std::move(*r);
      return {};
    };
#define FAMX_MODEL_TRY(expr) \
  if (auto famx_r_ = (expr); !famx_r_) return famx_r_.err()
    FAMX_MODEL_TRY(put(embed_, lin(root + "embed_tokens", s.vocab, s.hidden)));
    FAMX_MODEL_TRY(put(norm_, ck_.floats(root + "norm.weight", s.hidden)));
    if (!s.tied) FAMX_MODEL_TRY(put(lm_head_, lin(ck_.prefix() + "lm_head", s.vocab, s.hidden)));
    for (std::size_t i = 0; i < s.layers.size(); ++i) {
      const std::string p = root + "layers." + std::to_string(i) + ".";
      layer_weights w;
      FAMX_MODEL_TRY(put(w.input_layernorm, ck_.floats(p + "input_layernorm.weight", s.hidden)));
      FAMX_MODEL_TRY(put(w.post_attention_layernorm, ck_.floats(p + "post_attention_layernorm.weight", s.hidden)));
      const layer_spec k = s.layers[i];
      if (k.attention == attention_kind::gqa || k.attention == attention_kind::gated) {
        const std::string a = p + "self_attn.";
        gqa_weights g;
        const std::size_t qrows = s.heads * s.head_dim * (k.attention == attention_kind::gated ? 2 : 1);
        FAMX_MODEL_TRY(put(g.q_proj, lin(a + "q_proj", qrows, s.hidden, s.qkv_bias)));
        FAMX_MODEL_TRY(put(g.k_proj, lin(a + "k_proj", s.kv_heads * s.head_dim, s.hidden, s.qkv_bias)));
        FAMX_MODEL_TRY(put(g.v_proj, lin(a + "v_proj", s.kv_heads * s.head_dim, s.hidden, s.qkv_bias)));
        FAMX_MODEL_TRY(put(g.o_proj, lin(a + "o_proj", s.hidden, s.heads * s.head_dim, s.o_bias)));
        if (s.qk_norm) {
          FAMX_MODEL_TRY(put(g.q_norm, ck_.floats(a + "q_norm.weight", s.head_dim)));
          FAMX_MODEL_TRY(put(g.k_norm, ck_.floats(a + "k_norm.weight", s.head_dim)));
        }
        w.gqa = std::move(g);
      } else if (k.attention == attention_kind::mla) {
        const std::string a = p + "self_attn.";
        mla_weights m;
        const std::size_t qd = s.nope + s.rope_dim;
        if (s.q_lora == 0) {
          FAMX_MODEL_TRY(put(m.q_proj, lin(a + "q_proj", s.heads * qd, s.hidden)));
        } else {
          FAMX_MODEL_TRY(put(m.q_a_proj, lin(a + "q_a_proj", s.q_lora, s.hidden, s.mla_bias)));
          FAMX_MODEL_TRY(put(m.q_a_layernorm, ck_.floats(a + "q_a_layernorm.weight", s.q_lora)));
          FAMX_MODEL_TRY(put(m.q_b_proj, lin(a + "q_b_proj", s.heads * qd, s.q_lora)));
        }
        FAMX_MODEL_TRY(put(m.kv_a_proj_with_mqa, lin(a + "kv_a_proj_with_mqa", s.kv_lora + s.rope_dim, s.hidden, s.mla_bias)));
        FAMX_MODEL_TRY(put(m.kv_a_layernorm, ck_.floats(a + "kv_a_layernorm.weight", s.kv_lora)));
        FAMX_MODEL_TRY(put(m.embed_q, ck_.linears(a + "embed_q", s.heads, s.kv_lora, s.nope, path_, false, true)));
        FAMX_MODEL_TRY(put(m.unembed_out, ck_.linears(a + "unembed_out", s.heads, s.v_dim, s.kv_lora, path_)));
        FAMX_MODEL_TRY(put(m.o_proj, lin(a + "o_proj", s.hidden, s.heads * s.v_dim, s.mla_bias)));
        if (s.index_topk > 0) {
          const std::string x = a + "indexer.";
          indexer_weights ix;
          FAMX_MODEL_TRY(put(ix.wq_b, lin(x + "wq_b", s.index_heads * s.index_dim, s.q_lora)));
          FAMX_MODEL_TRY(put(ix.wk, lin(x + "wk", s.index_dim, s.hidden)));
          FAMX_MODEL_TRY(put(ix.k_norm_weight, ck_.floats(x + "k_norm.weight", s.index_dim)));
          FAMX_MODEL_TRY(put(ix.k_norm_bias, ck_.floats(x + "k_norm.bias", s.index_dim)));
          FAMX_MODEL_TRY(put(ix.weights_proj, lin(x + "weights_proj", s.index_heads, s.hidden)));
          m.indexer = std::move(ix);
        }
        w.mla = std::move(m);
      } else {
        const std::string a = p + "linear_attn.";
        delta_net_weights d;
        FAMX_MODEL_TRY(put(d.in_proj_qkvz, lin(a + "in_proj_qkvz", 2 * s.key_dim() + 2 * s.value_dim(), s.hidden)));
        FAMX_MODEL_TRY(put(d.in_proj_ba, lin(a + "in_proj_ba", 2 * s.nv, s.hidden)));
        FAMX_MODEL_TRY(put(d.out_proj, lin(a + "out_proj", s.hidden, s.value_dim())));
        FAMX_MODEL_TRY(put(d.conv1d, ck_.floats(a + "conv1d.weight", s.conv_dim() * s.conv_kernel)));
        FAMX_MODEL_TRY(put(d.dt_bias, ck_.floats(a + "dt_bias", s.nv)));
        FAMX_MODEL_TRY(put(d.A_log, ck_.floats(a + "A_log", s.nv)));
        FAMX_MODEL_TRY(put(d.norm, ck_.floats(a + "norm.weight", s.dv)));
        w.delta = std::move(d);
      }
      const std::string f = p + "mlp.";
      auto glu_of = [&](const std::string& m, std::size_t inter, bool bias) -> result<mlp_weights> {
        mlp_weights g;
        FAMX_MODEL_TRY(put(g.gate_proj, lin(m + "gate_proj", inter, s.hidden, bias)));
        FAMX_MODEL_TRY(put(g.up_proj, lin(m + "up_proj", inter, s.hidden, bias)));
        FAMX_MODEL_TRY(put(g.down_proj, lin(m + "down_proj", s.hidden, inter, bias)));
        return g;
      };
      if (k.mlp == mlp_kind::dense) {
        FAMX_MODEL_TRY(put(w.mlp, glu_of(f, s.intermediate, s.mlp_bias)));
      } else {
        moe_weights e;
        const std::size_t E = s.routing.num_experts, Im = s.moe_intermediate;
        FAMX_MODEL_TRY(put(e.gate, lin(f + "gate", E, s.hidden)));
        if (s.router_bias) FAMX_MODEL_TRY(put(e.e_score_correction_bias, ck_.floats(f + "gate.e_score_correction_bias", E)));
        FAMX_MODEL_TRY(put(e.gate_proj, ck_.linears(f + "switch_mlp.gate_proj", E, Im, s.hidden, path_)));
        FAMX_MODEL_TRY(put(e.up_proj, ck_.linears(f + "switch_mlp.up_proj", E, Im, s.hidden, path_)));
        FAMX_MODEL_TRY(put(e.down_proj, ck_.linears(f + "switch_mlp.down_proj", E, s.hidden, Im, path_)));
        if (s.shared_intermediate > 0)
          FAMX_MODEL_TRY(put(e.shared, glu_of(f + (s.shared_gate ? "shared_expert." : "shared_experts."), s.shared_intermediate, false)));
        if (s.shared_gate) FAMX_MODEL_TRY(put(e.shared_expert_gate, lin(f + "shared_expert_gate", 1, s.hidden)));
        w.moe = std::move(e);
      }
      layers_.push_back(std::move(w));
    }
#undef FAMX_MODEL_TRY
    return {};
  }

  checkpoint ck_;
  model_spec spec_;
  weight_path path_;
  linear embed_, lm_head_;
  std::vector<float> norm_;
  std::vector<layer_weights> layers_;
};

}  // namespace famx::model
