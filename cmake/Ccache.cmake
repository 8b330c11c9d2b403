# Use ccache for C++ and CUDA when present: CI keeps its cache between clean clones.
find_program(KILN_CCACHE ccache)
if(KILN_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${KILN_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${KILN_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${KILN_CCACHE})
endif()
