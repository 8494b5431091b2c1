// The thread pool runs every chunk exactly once, across repeated runs.
#include <doctest/doctest.h>

#include <atomic>
#include <vector>

#include "famx/core/parallel.hpp"

TEST_CASE("thread_pool runs every chunk once, run after run") {
  for (std::size_t threads : {1u, 2u, 4u}) {
    famx::thread_pool pool(threads);
    const famx::parallel par = pool.hook();
    CHECK(par.workers == threads);
    for (int rep = 0; rep < 200; ++rep) {
      const std::size_t n = 1 + static_cast<std::size_t>(rep % 37);
      std::vector<std::atomic<int>> hits(n);
      par.for_each(n, [&](std::size_t i) { hits[i].fetch_add(1); });
      for (auto& h : hits) REQUIRE(h.load() == 1);
    }
  }
}

TEST_CASE("the default parallel hook runs inline") {
  const famx::parallel par;
  int sum = 0;
  par.for_each(5, [&](std::size_t i) { sum += static_cast<int>(i); });
  CHECK(sum == 10);
}
