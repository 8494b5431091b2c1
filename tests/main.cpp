// doctest's main, in its own translation unit so test files compile fast.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
