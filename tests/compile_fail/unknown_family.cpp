// Must not compile: family_traits of a type famx does not know.
#include "famx/families/family_traits.hpp"

struct my_family {};
using config = famx::families::family_traits<my_family>::config;

int main() {}
