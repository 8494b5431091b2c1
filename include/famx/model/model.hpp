#pragma once
// model::reference_model: the fp32 reference forward of any family (spec 1.1): token embedding
// (quantized embeddings dequantized by row), pre-norm decoder layers h = x + attn(norm(x)),
// out = h + mlp(norm(h)), the final norm and the LM head (tied to embed_tokens or not). Loaded
// from a checkpoint directory; every weight is bound from the family's surface (model/weights.hpp)
// and every layer runs the forward of its surface kinds (model/layer.hpp), so the model is generic
// over the family trait. forward() continues a kv_cache, so a prompt followed by decode steps gives
// the logits of one pass over the whole sequence.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "famx/families/registry.hpp"
#include "famx/model/checkpoint.hpp"
#include "famx/model/forward_options.hpp"
#include "famx/model/layer.hpp"

namespace famx::model {

// What a loaded model is: its family, its config's model_type and its sizes.
struct model_info {
  std::string family;      // the famx family (HF model_type after aliases): "deepseek_v3"
  std::string model_type;  // as config.json says: "kimi_k2"
  std::size_t vocab = 0, hidden = 0, layers = 0;
};

// A model ready to run: its weights, bound from the family surface, and how they run.
class reference_model {
 public:
  // Loads the checkpoint in `dir` (a family of Families), dequantizing every quantized weight to
  // fp32 or keeping it for the quantized kernels (`path`). Errors name the file and the tensor or
  // config key.
  template <class Families = families::builtin>
  static result<reference_model> load(const std::filesystem::path& dir, weight_path path = weight_path::dequantized) {
    auto ck = checkpoint::open<Families>(dir);
    if (!ck) return ck.err();
    return Families::visit(ck->model().family, [&]<class F>() -> result<reference_model> {
      auto m = std::make_shared<impl<F>>(*ck, path);
      if (auto r = m->load(); !r) return r.err();
      return reference_model(std::move(m));
    });
  }

  // The model's family and sizes.
  const model_info& info() const noexcept { return impl_->info; }
  // How its quantized weights run.
  weight_path path() const noexcept { return impl_->path; }
  // The surface tensors its weights were bound from (model-level and every layer's, in binding order).
  const std::vector<std::string>& bound_tensors() const noexcept { return impl_->bound; }
  // The checkpoint tensors it read (after sanitize: packed weights, scales, biases, float tensors).
  const std::set<std::string, std::less<>>& read_tensors() const noexcept { return impl_->ck.read(); }
  // An empty cache for this model.
  kv_cache new_cache() const {
    kv_cache c;
    c.layers.resize(impl_->info.layers);
    return c;
  }

  // Logits [tokens.size(), vocab] of the tokens that follow the c.offset tokens already in c;
  // appends them to c. A token id outside [0, vocab) is a famx::error.
  std::vector<float> forward(std::span<const std::int32_t> tokens, kv_cache& c, const forward_options& opt = {}) const {
    return impl_->forward(tokens, c, opt);
  }

 private:
  struct base {
    base(checkpoint ck_, weight_path p) : ck(std::move(ck_)), path(p) {}
    virtual ~base() = default;
    virtual std::vector<float> forward(std::span<const std::int32_t> tokens, kv_cache& c, const forward_options& opt) const = 0;

    checkpoint ck;
    weight_path path;
    model_info info;
    std::vector<std::string> bound;
  };

  // The model of family F.
  template <class F>
  struct impl final : base {
    using traits = families::family_traits<F>;
    using config_type = typename traits::config;
    using head_weights = bound_module<slot<"embed_tokens", linear>, slot<"norm", std::vector<float>>, slot<"lm_head", linear>>;
    template <class List>
    struct variant_of;
    template <class... L>
    struct variant_of<surface::type_list<L...>> {
      using type = std::variant<layer_impl<L>...>;
    };
    using layer_variant = typename variant_of<typename traits::layers>::type;

    impl(checkpoint ck_, weight_path p) : base(std::move(ck_), p), config(*io::typed_config<F>(ck.model())) {}

    result<void> load() {
      const config_type& c = config;
      const families::attention_params a = traits::attention(c);
      std::optional<moe::routing_config> routing;
      if constexpr (families::has_router<F>) routing = traits::routing(c);
      tied = traits::tied(c);
      info = {std::string(traits::name), c.model_type, static_cast<std::size_t>(surface::field<"vocab_size">::eval(c)),
              static_cast<std::size_t>(surface::dims::hidden::eval(c)), static_cast<std::size_t>(c.num_hidden_layers)};
      const checkpoint_source src{ck, path};
      binder<config_type, checkpoint_source> b{c, src, bound};
      const std::string prefix = io::weight_prefix(ck.model().wrapper);
      const surface::emit_at model_at{prefix + "model", -1};
      if (auto r = b.template bind<surface::embed_tokens>(head, model_at, true); !r) return r;
      for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
        auto r = families::for_layer<F>(c, i, [&]<class L>() -> result<void> {
          auto p = layer_impl<L>::make(c, a, routing ? &*routing : nullptr);
          if (!p) return p.err();
          auto& l = std::get<layer_impl<L>>(layers.emplace_back(std::in_place_type<layer_impl<L>>));
          l.p = std::move(*p);
          return l.bind(c, static_cast<int>(i), src, bound);
        });
        if (!r) return r;
      }
      if (auto r = b.template bind<surface::final_norm>(head, model_at, true); !r) return r;
      return b.template bind<surface::lm_head>(head, surface::emit_at{prefix, -1}, !tied);
    }

    std::vector<float> forward(std::span<const std::int32_t> tokens, kv_cache& c, const forward_options& opt) const override {
      const std::size_t L = tokens.size(), D = info.hidden, V = info.vocab;
      if (c.layers.size() != layers.size())
        throw error(errc::shape_mismatch, "cache.layers", std::to_string(c.layers.size()),
                    std::to_string(layers.size()) + " (num_hidden_layers)");
      const linear& embed = get<"embed_tokens">(head).value;
      std::vector<float> x(L * D);
      for (std::size_t t = 0; t < L; ++t) {
        if (tokens[t] < 0 || static_cast<std::size_t>(tokens[t]) >= V)
          throw error(errc::invalid_value, "tokens." + std::to_string(t), std::to_string(tokens[t]),
                      "a token id in [0, vocab_size = " + std::to_string(V) + ")");
        const std::vector<float> row = embed.row(static_cast<std::size_t>(tokens[t]));
        std::copy(row.begin(), row.end(), x.begin() + static_cast<std::ptrdiff_t>(t * D));
      }
      for (std::size_t i = 0; i < layers.size(); ++i)
        std::visit([&](const auto& l) { l.forward(x, L, c.layers[i], c.offset, opt); }, layers[i]);
      std::vector<float> logits(L * V);
      const float eps = static_cast<float>(surface::field_value<"rms_norm_eps">(config));
      for (std::size_t t = 0; t < L; ++t) {
        const std::span<float> xt(x.data() + t * D, D);
        rms_norm(xt, get<"norm">(head).value, eps);
        (tied ? embed : get<"lm_head">(head).value).apply(xt, {logits.data() + t * V, V});
      }
      c.offset += L;
      return logits;
    }

    config_type config;
    bool tied = false;
    head_weights head;
    std::vector<layer_variant> layers;
  };

  explicit reference_model(std::shared_ptr<const base> m) : impl_(std::move(m)) {}

  std::shared_ptr<const base> impl_;
};

}  // namespace famx::model
