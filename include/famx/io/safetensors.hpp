#pragma once
// <famx/io/safetensors.hpp>: reading (mapped, validated, zero-copy) and writing safetensors files
// and sharded checkpoints.

#include "famx/io/mapped_file.hpp"
#include "famx/io/safetensors_dtype.hpp"
#include "famx/io/safetensors_file.hpp"
#include "famx/io/safetensors_header.hpp"
#include "famx/io/safetensors_index.hpp"
#include "famx/io/safetensors_writer.hpp"
#include "famx/io/sharded_safetensors.hpp"
