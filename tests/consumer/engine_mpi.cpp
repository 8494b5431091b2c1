// A downstream engine on the MPI backend (famx::mpi): every rank's all_sum of (rank + 1) * 0.5
// must be the same tree_sum on every rank; prints "ok mpi rank r of n" on success.
#include <chrono>
#include <cstdio>
#include <vector>

#include <famx/comm/mpi.hpp>
#include <famx/comm/reduce.hpp>

int main(int argc, char** argv) {
  famx::comm::mpi_session session(argc, argv);
  famx::comm::mpi_communicator c(std::chrono::milliseconds(20000));
  std::vector<float> x(16, 0.5f * static_cast<float>(c.rank() + 1));
  famx::comm::all_sum(c, x, "consumer all_sum");
  const float expected = 0.25f * static_cast<float>(c.size() * (c.size() + 1));  // exact in float here
  for (float v : x)
    if (v != expected) {
      std::printf("mismatch on rank %d: %g vs %g\n", c.rank(), static_cast<double>(v), static_cast<double>(expected));
      return 1;
    }
  std::printf("ok mpi rank %d of %d\n", c.rank(), c.size());
  return 0;
}
