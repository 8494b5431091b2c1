#pragma once
// model::reference_model: the fp32 reference forward of any family (spec 1.1): token embedding
// (quantized embeddings dequantized by row), pre-norm decoder layers h = x + attn(norm(x)),
// out = h + mlp(norm(h)), the final norm and the LM head (tied to embed_tokens or not). Loaded
// from a checkpoint directory; every weight is bound from the family's surface (model/weights.hpp)
// and every layer runs the forward of its surface kinds (model/layer.hpp), so the model is generic
// over the family trait. forward() continues a kv_cache, so a prompt followed by decode steps gives
// the logits of one pass over the whole sequence; a call's tokens run through the batched kernels
// together, with each token's bits those of a call on it alone (forward_options: int8 activations,
// threads).
//
// A split model is one rank of a shard::shard_plan (load_rank): the same layers, bound from the
// rank's slices (model/rank_source.hpp), with the collectives of model/rank_context.hpp after the
// row-parallel projections and the expert blocks (tensor and expert parallelism), and the hidden
// state passed from stage to stage with the logits broadcast from the last (pipeline). Every rank
// returns the logits of the unsplit model, bit for bit, where the plan says `exact`.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "famx/families/registry.hpp"
#include "famx/model/checkpoint.hpp"
#include "famx/model/forward_options.hpp"
#include "famx/comm/communicator.hpp"
#include "famx/model/layer.hpp"
#include "famx/model/rank_context.hpp"
#include "famx/model/rank_source.hpp"
#include "famx/shard/plan.hpp"
#include "famx/shard/render.hpp"

namespace famx::model {

// What a loaded model is: its family, its config's model_type and its sizes.
struct model_info {
  std::string family;      // the famx family (HF model_type after aliases): "deepseek_v3"
  std::string model_type;  // as config.json says: "kimi_k2"
  std::size_t vocab = 0, hidden = 0, layers = 0;
};

// How a model is loaded.
struct load_options {
  weight_path path = weight_path::dequantized;
  // With the quantized path: also build qmm_int8's load-time panels (quant::int8_panels) of every
  // projection that takes a forward call's tokens at once and of every routed expert, so that calls
  // of more than one token with int8 activations skip the per-call repack (the same bits). Costs
  // about the quantized weights' bytes again (int8_panel_bytes()).
  bool int8_panels = false;
  famx::parallel threads{};  // builds the panels
};

// A model ready to run: its weights, bound from the family surface, and how they run.
class reference_model {
 public:
  // Loads the checkpoint in `dir` (a family of Families), dequantizing every quantized weight to
  // fp32 or keeping it for the quantized kernels (o.path), with int8 panels when o says so. Errors
  // name the file and the tensor or config key.
  template <class Families = families::builtin>
  static result<reference_model> load(const std::filesystem::path& dir, const load_options& o) {
    if (auto r = check(o); !r) return r.err();
    auto ck = checkpoint::open<Families>(dir);
    if (!ck) return ck.err();
    return Families::visit(ck->model().family, [&]<class F>() -> result<reference_model> {
      auto m = std::make_shared<impl<F>>(*ck, o.path);
      if (auto r = m->load(); !r) return r.err();
      if (auto r = build_panels(*m, o); !r) return r.err();
      return reference_model(std::move(m));
    });
  }
  // load(dir, {path}).
  template <class Families = families::builtin>
  static result<reference_model> load(const std::filesystem::path& dir, weight_path path = weight_path::dequantized) {
    return load<Families>(dir, load_options{path});
  }

  // Rank comm.rank() of a model split by `plan` (over comm.size() == plan.world ranks): binds only
  // the rank's slices of the checkpoint in `dir` (int8 panels of them when o says so). After
  // loading, the ranks compare their checkpoint and plan (a collective): an error names a rank that
  // differs. Every rank must then call forward() with the same tokens.
  template <class Families = families::builtin>
  static result<reference_model> load_rank(const std::filesystem::path& dir, const load_options& o, const shard::shard_plan& plan,
                                           comm::communicator& comm) {
    if (auto r = check(o); !r) return r.err();
    if (comm.size() != plan.world)
      return error(errc::invalid_value, "world size", std::to_string(comm.size()) + " ranks",
                   std::to_string(plan.world) + " ranks (the plan's " + std::string(shard::to_string(plan.kind)) + " degree)");
    auto ck = checkpoint::open<Families>(dir);
    if (!ck) return ck.err();
    if (ck->model().description.family != plan.family)
      return error(errc::inconsistent, "plan.family", plan.family, ck->model().description.family + " (the checkpoint)", dir.string());
    const shard::rank_plan& rp = plan.ranks[static_cast<std::size_t>(comm.rank())];
    auto src = rank_source::make(*ck, rp, o.path);
    if (!src) return src.err();
    auto m = Families::visit(ck->model().family, [&]<class F>() -> result<std::shared_ptr<base>> {
      auto i = std::make_shared<impl<F>>(src->ck(), o.path);  // holds the rank's slices
      i->split.emplace(split_state::of(plan, comm, src->bytes_read()));
      if (auto r = i->load(*src); !r) return r.err();
      if (auto r = build_panels(*i, o); !r) return r.err();
      return std::shared_ptr<base>(std::move(i));
    });
    if (!m) return m.err();
    if (auto r = check_same(comm, ck->fingerprint(), shard::render_json(plan)); !r) return r.err();
    return reference_model(std::move(*m));
  }
  // load_rank(dir, {path}, plan, comm).
  template <class Families = families::builtin>
  static result<reference_model> load_rank(const std::filesystem::path& dir, weight_path path, const shard::shard_plan& plan,
                                           comm::communicator& comm) {
    return load_rank<Families>(dir, load_options{path}, plan, comm);
  }

  // The model's family and sizes.
  const model_info& info() const noexcept { return impl_->info; }
  // How its quantized weights run.
  weight_path path() const noexcept { return impl_->path; }
  // Bytes of checkpoint tensors a split model's rank took (0 for an unsplit model).
  std::uint64_t bytes_read() const noexcept { return impl_->split ? impl_->split->bytes_read : 0; }
  // Bytes of the int8 panels built at load (0 without load_options::int8_panels).
  std::uint64_t int8_panel_bytes() const noexcept { return impl_->int8_panel_bytes; }
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
  // What one rank of a split model holds and talks to.
  struct split_state {
    shard::shard_plan plan;
    comm::communicator* comm = nullptr;
    std::vector<std::int32_t> local_expert, expert_owner;  // expert parallelism: global expert -> stack index / rank
    std::uint64_t bytes_read = 0;

    const shard::rank_plan& rank() const { return plan.ranks[static_cast<std::size_t>(comm->rank())]; }
    static split_state of(const shard::shard_plan& p, comm::communicator& c, std::uint64_t bytes) {
      split_state s{p, &c, {}, {}, bytes};
      if (p.kind == shard::strategy::expert) {
        std::int64_t experts = 0;
        for (const auto& r : p.ranks) experts += static_cast<std::int64_t>(r.experts.size());
        s.local_expert.assign(static_cast<std::size_t>(experts), -1);
        s.expert_owner.assign(static_cast<std::size_t>(experts), -1);
        for (const auto& r : p.ranks)
          for (std::size_t i = 0; i < r.experts.size(); ++i) s.expert_owner[static_cast<std::size_t>(r.experts[i])] = r.rank;
        const auto& mine = p.ranks[static_cast<std::size_t>(c.rank())].experts;
        for (std::size_t i = 0; i < mine.size(); ++i) s.local_expert[static_cast<std::size_t>(mine[i])] = static_cast<std::int32_t>(i);
      }
      return s;
    }
  };

  // Fails unless o is a loadable combination.
  static result<void> check(const load_options& o) {
    if (o.int8_panels && o.path != weight_path::quantized)
      return error(errc::invalid_value, "load_options.int8_panels", "true with the dequantized weight path",
                   "weight_path::quantized (the panels are built from the quantized weights)");
    return {};
  }

  struct base;
  // Builds m's int8 panels when o asks for them; a matrix they cannot be built from is an error.
  static result<void> build_panels(base& m, const load_options& o) {
    if (!o.int8_panels) return {};
    try {
      m.int8_panel_bytes = m.build_int8_panels(o.threads);
    } catch (const error& e) {
      return e;
    }
    return {};
  }

  // Fails unless every rank holds the same checkpoint fingerprint and plan text; names the first rank that differs.
  static result<void> check_same(comm::communicator& c, std::uint64_t fingerprint, const std::string& plan) {
    std::uint64_t h = fingerprint;
    for (char ch : plan) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ull;
    std::vector<std::uint64_t> all(static_cast<std::size_t>(c.size()));
    c.all_gather(std::as_bytes(std::span(&h, 1)), std::as_writable_bytes(std::span(all)), "load: checkpoint and plan check");
    for (std::size_t r = 1; r < all.size(); ++r)
      if (all[r] != all[0])
        return error(errc::inconsistent, "rank " + std::to_string(r), "a different checkpoint or plan than rank 0",
                     "every rank loading the same checkpoint with the same plan");
    return {};
  }

  struct base {
    base(checkpoint ck_, weight_path p) : ck(std::move(ck_)), path(p) {}
    virtual ~base() = default;
    virtual std::vector<float> forward(std::span<const std::int32_t> tokens, kv_cache& c, const forward_options& opt) const = 0;
    virtual std::uint64_t build_int8_panels(const parallel& par) = 0;

    checkpoint ck;
    weight_path path;
    std::uint64_t int8_panel_bytes = 0;
    model_info info;
    std::vector<std::string> bound;
    std::optional<split_state> split;
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

    // Binds the model's weights from `src` (a checkpoint_source, or a rank_source: only the rank's
    // layers and slices).
    template <class Source>
    result<void> load(const Source& src) {
      const config_type& c = config;
      const families::attention_params a = traits::attention(c);
      std::optional<moe::routing_config> routing;
      if constexpr (families::has_router<F>) routing = traits::routing(c);
      tied = traits::tied(c);
      info = {std::string(traits::name), c.model_type, static_cast<std::size_t>(surface::field<"vocab_size">::eval(c)),
              static_cast<std::size_t>(surface::dims::hidden::eval(c)), static_cast<std::size_t>(c.num_hidden_layers)};
      binder<config_type, Source> b{c, src, bound};
      const std::string prefix = io::weight_prefix(ck.model().wrapper);
      const surface::emit_at model_at{prefix + "model", -1};
      if (auto r = b.template bind<surface::embed_tokens>(head, model_at, true); !r) return r;
      std::int64_t begin = 0, end = c.num_hidden_layers;
      if (split) begin = split->rank().layers.begin, end = split->rank().layers.end;
      first_layer = static_cast<std::size_t>(begin);
      for (std::int64_t i = begin; i < end; ++i) {
        auto r = families::for_layer<F>(c, i, [&]<class L>() -> result<void> {
          auto p = layer_impl<L>::make(c, a, routing ? &*routing : nullptr);
          if (!p) return p.err();
          auto& l = std::get<layer_impl<L>>(layers.emplace_back(std::in_place_type<layer_impl<L>>));
          l.p = std::move(*p);
          if (split) {
            const shard::rank_plan& rp = split->rank();
            l.localize({static_cast<std::size_t>(rp.heads), static_cast<std::size_t>(rp.kv_heads),
                        static_cast<std::size_t>(rp.linear_key_heads), static_cast<std::size_t>(rp.linear_value_heads)});
          }
          return l.bind(c, static_cast<int>(i), src, bound);
        });
        if (!r) return r;
      }
      if (auto r = b.template bind<surface::final_norm>(head, model_at, true); !r) return r;
      return b.template bind<surface::lm_head>(head, surface::emit_at{prefix, -1}, !tied);
    }
    result<void> load() { return load(checkpoint_source{ck, path}); }

    // Builds the int8 panels of every layer and of the LM head (embed_tokens when tied); returns their bytes.
    std::uint64_t build_int8_panels(const parallel& par) override {
      std::uint64_t bytes = 0;
      for (auto& l : layers) bytes += std::visit([&](auto& li) { return li.build_int8_panels(par); }, l);
      const bool present = tied ? get<"embed_tokens">(head).present : get<"lm_head">(head).present;
      linear& out = tied ? get<"embed_tokens">(head).value : get<"lm_head">(head).value;
      if (present) bytes += out.build_int8_panels(par);
      return bytes;
    }

    std::vector<float> forward(std::span<const std::int32_t> tokens, kv_cache& c, const forward_options& opt) const override {
      const std::size_t L = tokens.size(), D = info.hidden, V = info.vocab;
      if (c.layers.size() != info.layers)
        throw error(errc::shape_mismatch, "cache.layers", std::to_string(c.layers.size()),
                    std::to_string(info.layers) + " (num_hidden_layers)");
      for (std::size_t t = 0; t < L; ++t)
        if (tokens[t] < 0 || static_cast<std::size_t>(tokens[t]) >= V)
          throw error(errc::invalid_value, "tokens." + std::to_string(t), std::to_string(tokens[t]),
                      "a token id in [0, vocab_size = " + std::to_string(V) + ")");
      const bool pipeline = split && split->plan.kind == shard::strategy::pipeline;
      const int rank = split ? split->comm->rank() : 0, world = split ? split->comm->size() : 1;
      const bool first = !pipeline || rank == 0, last = !pipeline || rank == world - 1;
      const auto stage = [&](std::size_t layer) { return "model.layers." + std::to_string(layer); };
      const auto& embed_slot = get<"embed_tokens">(head);
      std::vector<float> x(L * D);
      if (first) {
        for (std::size_t t = 0; t < L; ++t) {
          const std::vector<float> row = embed_slot.value.row(static_cast<std::size_t>(tokens[t]));
          std::copy(row.begin(), row.end(), x.begin() + static_cast<std::ptrdiff_t>(t * D));
        }
      } else {
        split->comm->recv(std::as_writable_bytes(std::span(x)), rank - 1, stage(first_layer - 1) + " recv");
      }
      for (std::size_t i = 0; i < layers.size(); ++i) {
        const std::size_t li = first_layer + i;
        std::optional<rank_context> rc;
        if (split && !pipeline) rc = rank_context{split->comm, stage(li), split->local_expert, split->expert_owner};
        std::visit([&](const auto& l) { l.forward(x, L, c.layers[li], c.offset, opt, rc ? &*rc : nullptr); }, layers[i]);
      }
      std::vector<float> logits(L * V);
      if (!last) split->comm->send(std::as_bytes(std::span(x)), rank + 1, stage(first_layer + layers.size() - 1) + " send");
      if (last) {
        const float eps = static_cast<float>(surface::field_value<"rms_norm_eps">(config));
        for (std::size_t t = 0; t < L; ++t) rms_norm({x.data() + t * D, D}, get<"norm">(head).value, eps);
        (tied ? embed_slot.value : get<"lm_head">(head).value).apply(x, L, logits, opt);
      }
      if (pipeline) split->comm->broadcast(std::as_writable_bytes(std::span(logits)), world - 1, "lm_head broadcast");
      c.offset += L;
      return logits;
    }

    config_type config;
    bool tied = false;
    head_weights head;
    std::size_t first_layer = 0;         // the first decoder layer in `layers` (a pipeline stage's)
    std::vector<layer_variant> layers;  // the decoder layers this model (rank) runs
  };

  explicit reference_model(std::shared_ptr<const base> m) : impl_(std::move(m)) {}

  std::shared_ptr<const base> impl_;
};

}  // namespace famx::model
