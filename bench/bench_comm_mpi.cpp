// The MPI backend's exact reduce against MPI's own, in the same run: comm::all_sum on
// mpi_communicator (all_gather of the ranks' vectors by nonblocking point-to-point, then tree_sum's
// tree on every rank) and MPI_Allreduce(MPI_SUM, MPI_FLOAT) on the same buffer, for 4096, 7168 and
// 28672 floats. Run under mpiexec (README: the Open MPI environment of a root container):
//   mpiexec --bind-to none -n 2 build/test/bench/bench_comm_mpi [rounds]
// Each round times 200 calls of each on rank 0, alternating; prints the medians over the rounds (20
// by default), the ratio exact / MPI_Allreduce, and whether every rank holds the same bits.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <famx/comm/mpi.hpp>
#include <famx/comm/reduce.hpp>

namespace {

constexpr int kCalls = 200;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Microseconds per call of fn, kCalls calls after a barrier.
template <class F>
double time_calls(F fn) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) fn();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / kCalls;
}

}  // namespace

int main(int argc, char** argv) {
  famx::comm::mpi_session session(argc, argv);
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
  famx::comm::mpi_communicator c(std::chrono::milliseconds(30000));
  if (c.rank() == 0)
    std::printf("ranks  floats  exact all_sum (us)  MPI_Allreduce (us)  exact / Allreduce  same bits on every rank\n");
  for (const std::size_t floats : {std::size_t{4096}, std::size_t{7168}, std::size_t{28672}}) {
    std::vector<float> x(floats), y(floats);
    std::vector<double> exact, mpi;
    for (int r = 0; r < rounds; ++r) {
      exact.push_back(time_calls([&] {
        for (std::size_t i = 0; i < floats; ++i) x[i] = 0.001f * static_cast<float>(i % 97) + static_cast<float>(c.rank());
        famx::comm::all_sum(c, x, "bench all_sum");
      }));
      mpi.push_back(time_calls([&] {
        for (std::size_t i = 0; i < floats; ++i) x[i] = 0.001f * static_cast<float>(i % 97) + static_cast<float>(c.rank());
        MPI_Allreduce(x.data(), y.data(), static_cast<int>(floats), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      }));
    }
    // Every rank's exact sum has the same bits: compare with rank 0's.
    for (std::size_t i = 0; i < floats; ++i) x[i] = 0.001f * static_cast<float>(i % 97) + static_cast<float>(c.rank());
    famx::comm::all_sum(c, x, "bench all_sum");
    y = x;
    MPI_Bcast(y.data(), static_cast<int>(floats), MPI_FLOAT, 0, MPI_COMM_WORLD);
    int same = std::memcmp(x.data(), y.data(), floats * sizeof(float)) == 0, all_same = 0;
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (c.rank() == 0)
      std::printf("%5d  %6zu  %18.2f  %18.2f  %17.2f  %s\n", c.size(), floats, median(exact), median(mpi),
                  median(exact) / median(mpi), all_same ? "yes" : "NO");
  }
  return 0;
}
