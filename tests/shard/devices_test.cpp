// Device lists from CLI text and strategy names.
#include <doctest/doctest.h>

#include <string>

#include "famx/shard/device.hpp"
#include "famx/shard/exo_rules.hpp"

using famx::shard::parse_devices;

TEST_CASE("shard devices: sizes, names and bandwidth") {
  auto a = parse_devices("64G,64G,128G");
  REQUIRE(a.has_value());
  REQUIRE(a->size() == 3);
  CHECK((*a)[0].name == "device0");
  CHECK((*a)[2].name == "device2");
  CHECK((*a)[0].memory_bytes == 64'000'000'000);
  CHECK((*a)[2].memory_bytes == 128'000'000'000);
  CHECK(!(*a)[1].bandwidth_gb_s);

  auto b = parse_devices("mac-a=64G,mac-b=24G:120");
  REQUIRE(b.has_value());
  REQUIRE(b->size() == 2);
  CHECK((*b)[0].name == "mac-a");
  CHECK((*b)[1].name == "mac-b");
  CHECK((*b)[1].memory_bytes == 24'000'000'000);
  REQUIRE((*b)[1].bandwidth_gb_s);
  CHECK(*(*b)[1].bandwidth_gb_s == 120.0);

  auto c = parse_devices("24Gi,1.5T,512M,64GB,16GiB,97.5G,2K");
  REQUIRE(c.has_value());
  CHECK((*c)[0].memory_bytes == 24LL * 1024 * 1024 * 1024);  // 25769803776
  CHECK((*c)[1].memory_bytes == 1'500'000'000'000);
  CHECK((*c)[2].memory_bytes == 512'000'000);
  CHECK((*c)[3].memory_bytes == 64'000'000'000);
  CHECK((*c)[4].memory_bytes == 17'179'869'184);
  CHECK((*c)[5].memory_bytes == 97'500'000'000);
  CHECK((*c)[6].memory_bytes == 2000);
  // Unnamed devices are numbered by position, also after a named one.
  auto d = parse_devices("big=128G,8G");
  REQUIRE(d.has_value());
  CHECK((*d)[1].name == "device1");
}

TEST_CASE("shard devices: bad text names the item") {
  auto check = [](const char* text, const char* path, const char* found_part) {
    auto r = parse_devices(text);
    REQUIRE_MESSAGE(!r.has_value(), text);
    CHECK_MESSAGE(r.err().path() == path, text << " -> " << r.err().message());
    CHECK_MESSAGE(r.err().found().find(found_part) != std::string::npos, text << " -> " << r.err().message());
  };
  check("", "devices", "an empty list");
  check("64G,,8G", "devices.1", "an empty item");
  check("64G,", "devices.1", "an empty item");
  check("64X", "devices.0", "\"64X\"");
  check("8G,64", "devices.1", "\"64\"");  // a unit is required
  check("8G,-4G", "devices.1", "\"-4G\"");
  check("0G", "devices.0", "\"0G\"");
  check("a=64G:fast", "devices.0", "bandwidth \"fast\"");
  check("a=64G:0", "devices.0", "bandwidth \"0\"");
  check("=64G", "devices.0", "name \"\"");
  check("a=1G,a=2G", "devices.1", "name \"a\" used twice");
  auto r = parse_devices("64X");
  REQUIRE(!r.has_value());
  CHECK(r.err().message() ==
        "devices.0: found \"64X\", expected a size such as 64G, 97.5G or 24Gi (K/M/G/T = powers of 1000, "
        "Ki/Mi/Gi/Ti = powers of 1024)");
}

TEST_CASE("shard strategy names") {
  using famx::shard::strategy;
  CHECK(famx::shard::to_string(strategy::automatic) == "auto");
  for (auto s : {strategy::tensor, strategy::pipeline, strategy::expert, strategy::automatic}) {
    auto p = famx::shard::parse_strategy(famx::shard::to_string(s));
    REQUIRE(p.has_value());
    CHECK(*p == s);
  }
  auto bad = famx::shard::parse_strategy("data");
  REQUIRE(!bad.has_value());
  CHECK(bad.err().message() == "strategy: found \"data\", expected tensor, pipeline, expert or auto");
}
