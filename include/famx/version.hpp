#pragma once
// famx version macros.

#define FAMX_VERSION_MAJOR 0
#define FAMX_VERSION_MINOR 1
#define FAMX_VERSION_PATCH 0
#define FAMX_VERSION_STRING "0.1.0"
