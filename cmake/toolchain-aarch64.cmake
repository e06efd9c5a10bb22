# Cross-build for 64-bit Arm Linux with Debian's cross toolchain, and run what it builds
# (tests, through ctest) under user-mode qemu:
#
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#   cmake --build build/aarch64 -j2 && (cd build/aarch64 && ctest -L core)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(EDDY_CROSS_TRIPLE aarch64-linux-gnu CACHE STRING "Prefix of the cross tools")
set(CMAKE_C_COMPILER ${EDDY_CROSS_TRIPLE}-gcc)
set(CMAKE_ASM_COMPILER ${EDDY_CROSS_TRIPLE}-gcc)
set(EDDY_CROSS_SYSROOT /usr/${EDDY_CROSS_TRIPLE} CACHE PATH "Target libraries (libc6-dev-arm64-cross)")

# Look for libraries and headers in the target's tree only, for programs on the host only.
set(CMAKE_FIND_ROOT_PATH ${EDDY_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest (and add_custom_command) run target programs through this; -L points the emulator at
# the target's dynamic loader and libc.
find_program(EDDY_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(EDDY_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EDDY_QEMU_AARCH64} -L ${EDDY_CROSS_SYSROOT})
endif()
