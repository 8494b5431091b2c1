#pragma once
// A rank's tensors from a checkpoint: every file slice of a rank plan taken from the checkpoint's
// files (views where the slice is one block, copies where it gathers several).

#include <vector>

#include "famx/io/sharded_safetensors.hpp"
#include "famx/shard/plan.hpp"

namespace famx::shard {

// The tensors rank r of a plan holds, read from checkpoint c, in the plan's order.
inline result<std::vector<local_tensor>> load_rank(const io::sharded_safetensors& c, const rank_plan& r) {
  std::vector<local_tensor> out;
  for (const tensor_plan& t : r.tensors)
    for (const file_slice& f : t.files) {
      auto whole = c.tensor(f.name);
      if (!whole) return whole.err();
      auto local = take(*whole, f);
      if (!local) return local.err();
      out.push_back(std::move(*local));
    }
  return out;
}

}  // namespace famx::shard
