#pragma once
// model::rank_source: the weights of one rank of a shard plan, as the surface binder reads them.
// Every file slice of the rank plan is taken from the checkpoint (shard::take: a strided view is
// copied to a contiguous tensor, so the rank keeps only its own slices), the leaves the rank does
// not hold are left unbound, and each leaf is bound with its local shape. A row-parallel slice of a
// projection is marked `partial`: its bias is added after the ranks' partial sums are combined.

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "famx/model/checkpoint.hpp"
#include "famx/shard/plan.hpp"

namespace famx::model {

namespace detail {
// A contiguous copy of view v (any strides).
inline tensor contiguous_copy(const tensor_view& v) {
  tensor t(v.type, v.dims);
  const std::size_t es = size_of(v.type), n = static_cast<std::size_t>(v.numel()), rank = v.dims.rank();
  const auto* src = static_cast<const std::byte*>(v.data);
  auto* dst = static_cast<std::byte*>(t.data());
  std::vector<std::int64_t> idx(rank, 0);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t off = 0;
    for (std::size_t d = 0; d < rank; ++d) off += idx[d] * v.strides[d];
    std::memcpy(dst + i * es, src + static_cast<std::size_t>(off) * es, es);
    for (std::size_t d = rank; d-- > 0;) {
      if (++idx[d] < v.dims[d]) break;
      idx[d] = 0;
    }
  }
  return t;
}
}  // namespace detail

// One rank's weights: its slices of checkpoint tensors, bound with their local shapes.
class rank_source {
 public:
  // Takes every slice rank plan r names from checkpoint ck; `path` as checkpoint_source.
  static result<rank_source> make(const checkpoint& ck, const shard::rank_plan& r, weight_path path) {
    rank_source s;
    std::vector<std::pair<std::string, tensor>> parts;
    for (const shard::tensor_plan& t : r.tensors) {
      s.plans_.emplace(t.name, slice_shape{t.rule, t.global, t.local});
      for (const shard::file_slice& f : t.files) {
        auto whole = ck.whole(f.name);
        if (!whole) return whole.err();
        auto local = shard::take(*whole, f);
        if (!local) return local.err();
        s.bytes_ += f.local_bytes();
        parts.emplace_back(f.name, local->owned ? std::move(*local->owned) : detail::contiguous_copy(local->view));
      }
    }
    s.ck_ = ck.with_parts(std::move(parts));
    s.path_ = path;
    return s;
  }

  // Bytes of checkpoint tensors the rank took (its slices).
  std::uint64_t bytes_read() const noexcept { return bytes_; }
  // The rank's view of the checkpoint (only its slices can be read).
  const checkpoint& ck() const noexcept { return *ck_; }
  // Whether the rank holds the leaf whose tensors are `e`.
  bool holds(const std::vector<surface::tensor_entry>& e) const { return plans_.contains(e.front().name); }

  // The value of a held leaf, with its local shape; row-parallel slices of projections are `partial`.
  template <class Leaf>
  result<typename leaf_value<Leaf>::type> load(std::vector<surface::tensor_entry> e) const {
    bool partial = false;
    for (surface::tensor_entry& t : e) {
      const slice_shape& p = plans_.at(t.name);
      partial = partial || (p.rule == shard::tp_rule::row_parallel && !(p.local == p.global));
      t.dims = p.local;
    }
    auto v = checkpoint_source{*ck_, path_}.template load<Leaf>(e);
    if (!v) return v;
    using T = typename leaf_value<Leaf>::type;
    if constexpr (std::is_same_v<T, linear>) v->partial = partial;
    else if constexpr (std::is_same_v<T, std::vector<linear>>)
      for (linear& l : *v) l.partial = partial;
    return v;
  }

 private:
  struct slice_shape {
    shard::tp_rule rule;
    shape global, local;
  };
  std::optional<checkpoint> ck_;
  weight_path path_ = weight_path::dequantized;
  std::map<std::string, slice_shape, std::less<>> plans_;
  std::uint64_t bytes_ = 0;
};

}  // namespace famx::model
