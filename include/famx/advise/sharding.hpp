#pragma once
// Sharding options for 1..8 devices: which tensor-parallel degrees are legal (the planner's
// shard::check_tensor_parallel: the degree divides every dimension the family's strategy splits
// and every row-parallel quantized split keeps whole groups; Exo's placement also requires
// hidden_size % N == 0), which
// expert-parallel degrees divide the routed experts, and the pipeline split of the layers.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "famx/families/describe.hpp"
#include "famx/io/quantization.hpp"
#include "famx/shard/tensor_parallel.hpp"

namespace famx::advise {

// The verdict for one device count.
struct sharding_option {
  int devices = 1;
  bool tensor_parallel = true;
  std::string tensor_reason;      // why TP is not legal ("num_key_value_heads = 4 is not divisible by 8")
  bool expert_parallel = false;   // routed experts divide evenly over the devices
  std::int64_t layers_per_stage = 0;  // pipeline: ceil(layers / devices) on the largest stage
};

// Options for 1..max_devices devices.
inline std::vector<sharding_option> sharding_options(const families::model_description& d,
                                                     const std::optional<io::quantization_config>& q,
                                                     int max_devices = 8) {
  std::vector<sharding_option> out;
  const auto layers = static_cast<std::int64_t>(d.layers.size());
  for (int n = 1; n <= max_devices; ++n) {
    sharding_option o;
    o.devices = n;
    auto fail = [&](const std::string& why) {
      if (o.tensor_parallel) o.tensor_reason = why;
      o.tensor_parallel = false;
    };
    if (auto legal = shard::check_tensor_parallel(d, q, n); !legal)
      fail(legal.err().found() + ", expected " + legal.err().expected());
    if (d.dim("hidden_size") % n != 0)
      fail("hidden_size = " + std::to_string(d.dim("hidden_size")) + " is not divisible by " + std::to_string(n) +
           " (Exo placement)");
    o.expert_parallel = d.experts > 0 && d.experts % n == 0;
    o.layers_per_stage = (layers + n - 1) / n;
    out.push_back(o);
  }
  return out;
}

}  // namespace famx::advise
